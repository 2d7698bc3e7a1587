"""``python -m backends.flax_trainer``: see :mod:`backends.cli`."""

import sys

from backends.cli import main

if __name__ == "__main__":
    sys.exit(main("backends.flax_trainer", "jax"))
