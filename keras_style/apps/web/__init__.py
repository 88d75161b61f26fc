"""The local web page: `keras-style serve` (or `python -m keras_style.apps.web`), extra [web] (Gradio).

Importing this package is cheap and needs neither Gradio nor TensorFlow: `main` refuses bad options, and says how
to install Gradio when it is missing, before either loads.

- server.py: the options, the temporary folder every upload and result goes to, starting and stopping the server;
- runs.py: one run of the page (its inputs checked, a worker thread, its progress and result), without Gradio;
- page.py: the Gradio page that shows them.
"""
from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """`keras-style serve [options]`: serve the page until Ctrl-C; the exit code (0, or 2 for bad options)."""
    from keras_style.apps.web.server import main as serve_main

    return serve_main(argv)
