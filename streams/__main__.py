"""`python -m streams ...` is the `abm` command."""

from streams.cli import main

main()
