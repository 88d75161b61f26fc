#!/usr/bin/env python3
"""Command-line entry point: python scripts/transfer.py CONTENT STYLE OUTPUT [options] (see --help).

The same as the `keras-style` console script; the package is installed (pip install -e .).
"""
import sys

from keras_style.apps.cli import main

if __name__ == "__main__":
    sys.exit(main())
