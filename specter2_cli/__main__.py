"""`python -m specter2_cli`: the `specter2` command."""

from .cli import main

main()
