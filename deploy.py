"""ia-comafi deployer: `python deploy.py ENV [VERB] ...` (see deployer/cli.py, or run with -h)."""

import sys

from deployer.cli import main

if __name__ == "__main__":
    sys.exit(main())
