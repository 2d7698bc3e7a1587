"""``python -m backends.torch_trainer``: see :mod:`backends.cli`."""

import sys

from backends.cli import main

if __name__ == "__main__":
    sys.exit(main("backends.torch_trainer", "torch"))
