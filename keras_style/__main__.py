"""`python -m keras_style` runs the same command line as scripts/transfer.py."""
from .cli import main

raise SystemExit(main())
