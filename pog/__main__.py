"""``python -m pog``: the same as the ``pog`` console script."""

from pog.cli import main

main()
