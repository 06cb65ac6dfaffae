from cp_simu.cli import main

main()
