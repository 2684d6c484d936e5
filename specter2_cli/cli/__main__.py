"""`python -m specter2_cli.cli`: the same as `python -m specter2_cli`."""

from . import main

main()
