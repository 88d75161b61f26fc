#!/usr/bin/env python3
"""Regenerate the options table of docs/options.md from the settings' declarations (keras_style/config/settings.py,
rendered by keras_style.apps.options.options_table): python scripts/options_page.py [--check].

--check writes nothing and exits 1 when the page is stale (tests/test_settings.py checks the same)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PAGE = ROOT / "docs" / "options.md"
START, END = "<!-- options table:", "<!-- end of options table -->"


def split(text: str) -> tuple[str, str, str]:
    """The page before the table (its comment line included), the table, and the rest from the end marker."""
    start = text.index("\n", text.index(START)) + 1
    end = text.index(END)
    return text[:start], text[start:end].strip(), text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/options.md is stale; write nothing")
    args = parser.parse_args(argv)
    from keras_style.apps.options import options_table

    before, table, after = split(PAGE.read_text())
    if table == options_table():
        print(f"{PAGE.relative_to(ROOT)} is up to date")
        return 0
    if args.check:
        print(f"{PAGE.relative_to(ROOT)} is stale: run python scripts/options_page.py", file=sys.stderr)
        return 1
    PAGE.write_text(before + options_table() + "\n" + after)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
