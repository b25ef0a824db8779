"""``python -m mnist train`` is ``sheetgen mnist train``."""

from mnist.cli import cli

cli(prog_name="python -m mnist")
