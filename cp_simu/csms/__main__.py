"""`python -m cp_simu.csms`: the demo CSMS without the top-level CLI."""

from .cli import csms

if __name__ == "__main__":
    csms(prog_name="python -m cp_simu.csms")
