#!/usr/bin/env python3
"""Command-line entry point: python scripts/transfer.py CONTENT STYLE OUTPUT [options] (see --help)."""
import sys
from pathlib import Path

# Run from a checkout without installing: the package lives one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from keras_style.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
