"""`python -m chargepoint --workdir DIR [--broker URL]`."""

import sys

from chargepoint.cli import main

sys.exit(main())
