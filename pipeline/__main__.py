"""``python -m pipeline``: the same as the ``cardsmith`` command."""

from .cli import main

main()
