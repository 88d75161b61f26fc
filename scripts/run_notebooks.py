#!/usr/bin/env python3
"""Execute the notebooks in notebooks/ headless (papermill) with chosen parameters.

Executed copies go to --output-dir (default outputs/notebooks/, ignored by git). Only the parameters given on the
command line are injected; the rest keep each notebook's defaults, so

    python scripts/run_notebooks.py --output-dir notebooks

re-creates the committed outputs (the demo pair at the notebooks' default size and budget), and

    python scripts/run_notebooks.py --size 64 --iterations 4

is a quick smoke run. A failing cell makes the command exit 1 after the other notebooks have run; the executed
copy of a failed notebook shows the error.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DEFAULT_OUTPUT_DIR = REPO_ROOT / "outputs" / "notebooks"


def notebook_paths(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Every notebook in `folder`, sorted by name (checkpoints excluded)."""
    return sorted(path for path in folder.glob("*.ipynb") if not path.name.startswith("."))


def select_notebooks(paths: Sequence[Path], only: Optional[Sequence[str]]) -> list[Path]:
    """Notebooks whose file name contains any of `only` (case-insensitive); all of them when `only` is empty."""
    if not only:
        return list(paths)
    wanted = [text.lower() for text in only]
    chosen = [path for path in paths if any(text in path.name.lower() for text in wanted)]
    if not chosen:
        raise SystemExit(f"--only {', '.join(only)} matches none of: {', '.join(p.name for p in paths)}")
    return chosen


def parse_parameter(text: str) -> tuple[str, Any]:
    """'name=value' -> (name, value), value as int or float when it reads as one, else the string."""
    name, separator, value = text.partition("=")
    if not separator or not name.strip().isidentifier():
        raise SystemExit(f"-p expects NAME=VALUE, got {text!r}")
    for convert in (int, float):
        try:
            return name.strip(), convert(value)
        except ValueError:
            pass
    return name.strip(), value


def parameters_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The papermill parameters the user asked for; unset options are left to the notebooks' defaults."""
    values = {
        "size": args.size, "iterations": args.iterations, "weights": args.weights, "seed": args.seed,
        "content": args.content, "style": args.style,
    }
    parameters = {name: value for name, value in values.items() if value is not None}
    parameters.update(parse_parameter(text) for text in args.parameter)
    for name in ("content", "style"):
        if name in parameters:  # the kernel runs in notebooks/, so hand it absolute paths
            parameters[name] = str(Path(parameters[name]).expanduser().resolve())
    return parameters


def execute(path: Path, output_dir: Path, parameters: dict[str, Any], timeout: Optional[int]) -> float:
    """Run one notebook into output_dir with papermill; returns seconds taken. Raises on a cell error."""
    import papermill

    started = time.perf_counter()
    papermill.execute_notebook(
        str(path), str(output_dir / path.name), parameters=parameters, cwd=str(path.parent),
        kernel_name="python3", progress_bar=False, execution_timeout=timeout,
    )
    return time.perf_counter() - started


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", type=int, help="output size in pixels (notebook default: 192)")
    parser.add_argument(
        "--iterations", type=int,
        help="evaluation budget per run (steps for gradient descent; split over the restart loop in articles "
             "001-003; per grid cell in vgg16_vs_vgg19)",
    )
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run only notebooks whose file name contains NAME, e.g. --only article_001 vgg16")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR,
                        help=f"folder for the executed notebooks (default {DEFAULT_OUTPUT_DIR.relative_to(REPO_ROOT)})")
    parser.add_argument("--weights", help="'imagenet' (default; uses $KERAS_STYLE_WEIGHTS_DIR when set), or a .h5 path")
    parser.add_argument("--content", help="content image (default: examples/content.jpg)")
    parser.add_argument("--style", help="style image (default: examples/style.jpg)")
    parser.add_argument("--seed", type=int, help="random seed (notebook default: 0)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="any other notebook parameter, e.g. -p layer_sets=paper (numbers are converted)")
    parser.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: no limit)")
    parser.add_argument("--list", action="store_true", help="list the notebooks and exit")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    paths = select_notebooks(notebook_paths(), args.only)
    if args.list:
        print("\n".join(path.name for path in paths))
        return 0
    for name, value in (("--size", args.size), ("--iterations", args.iterations)):
        if value is not None and value <= 0:
            raise SystemExit(f"{name} must be a positive integer, got {value}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    output_dir = args.output_dir.expanduser().resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    parameters = parameters_from_args(args)
    failures = []
    for path in paths:
        print(f"{path.name} ...", end=" ", flush=True)
        try:
            seconds = execute(path, output_dir, parameters, args.timeout)
        except Exception as error:  # papermill raises PapermillExecutionError with the failing cell
            failures.append(path.name)
            print(f"FAILED\n{error}", flush=True)
            continue
        print(f"{seconds:.0f} s -> {output_dir / path.name}", flush=True)
    if failures:
        print(f"{len(failures)} notebook(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
