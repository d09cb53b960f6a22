"""Allows ``python -m nephoscope``."""

from nephoscope.cli import main

main()
