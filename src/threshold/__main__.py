"""`python -m threshold` runs the CLI."""

from threshold.cli import app

app()
