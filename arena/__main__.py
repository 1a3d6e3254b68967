"""`python -m arena` runs the default season; see `arena.cli` for the commands."""

import sys

from arena.cli import main

if __name__ == "__main__":
    sys.exit(main())
