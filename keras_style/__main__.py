"""`python -m keras_style` runs the same command line as scripts/transfer.py."""
from keras_style.apps.cli import main

raise SystemExit(main())
