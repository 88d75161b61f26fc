#!/usr/bin/env python3
"""Build the notebooks in notebooks/ from their sources, then execute them headless (papermill).

Each notebook's source is notebooks/NAME.py in Jupytext's percent format: `# %%` starts a code cell, `# %% [markdown]`
a prose cell, and `# %% tags=["parameters"]` marks the cell papermill overrides. The build writes notebooks/NAME.ipynb
from it: every cell's text comes from the source, and the outputs of the existing .ipynb are kept (what
`jupytext --update --to ipynb` does), so a prose edit keeps the committed pictures. Then each notebook is executed;
executed copies go to --output-dir (default outputs/notebooks/, ignored by git). Only the parameters given on the
command line are injected; the rest keep each notebook's defaults, so

    python scripts/run_notebooks.py --build-only

brings each committed .ipynb in line with its edited source without running anything,

    python scripts/run_notebooks.py --output-dir notebooks

re-creates the committed outputs (the demo pair at the notebooks' default size and budget), and

    python scripts/run_notebooks.py --size 64 --iterations 4

is a quick smoke run (add --one-kernel to run every notebook in one kernel, so that TensorFlow is imported once, and
--no-build to run the notebooks as committed, writing nothing in notebooks/). A failing cell makes the command exit 1
after the other notebooks have run; the executed copy of a failed notebook shows the error.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DEFAULT_OUTPUT_DIR = REPO_ROOT / "outputs" / "notebooks"
# Python files in notebooks/ that are modules the notebooks import, not notebook sources.
HELPER_MODULES = ("notebook_support.py",)
SOURCE_FORMAT = "py:percent"
# Metadata of a notebook built for the first time (later builds keep the existing notebook's metadata).
NEW_NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def source_paths(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Every notebook source (percent-format .py) in `folder`, sorted by name."""
    return sorted(path for path in folder.glob("*.py") if path.name not in HELPER_MODULES)


def notebook_paths(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The notebook built from each source in `folder`, sorted by name."""
    return [path.with_suffix(".ipynb") for path in source_paths(folder)]


def select_notebooks(paths: Sequence[Path], only: Sequence[str] | None) -> list[Path]:
    """Notebooks whose file name contains any of `only` (case-insensitive); all of them when `only` is empty."""
    if not only:
        return list(paths)
    wanted = [text.lower() for text in only]
    chosen = [path for path in paths if any(text in path.name.lower() for text in wanted)]
    if not chosen:
        raise SystemExit(f"--only {', '.join(only)} matches none of: {', '.join(p.name for p in paths)}")
    return chosen


def drop_empty_tags(notebook) -> None:
    """Remove the empty `tags` lists papermill gives every cell, so Jupytext writes no `tags=[]` into a source."""
    for cell in notebook.cells:
        if "tags" in cell.metadata and not cell.metadata["tags"]:
            del cell.metadata["tags"]


def build(source: Path) -> bool:
    """Write the .ipynb next to `source` from it, keeping the existing .ipynb's outputs; True if the file changed.

    Each cell's type, text and tags come from the source. Cells are matched to the existing notebook's as
    `jupytext --update` matches them (same text first, then position), and a matched cell keeps its outputs,
    execution count and other metadata: a code cell whose text changed shows its old outputs until the notebook
    is executed again.
    """
    import jupytext
    import nbformat
    from jupytext.combine import map_outputs_to_inputs

    target = source.with_suffix(".ipynb")
    notebook = jupytext.read(source, fmt=SOURCE_FORMAT)
    old_text = target.read_text(encoding="utf-8") if target.exists() else None
    if old_text is None:
        notebook.metadata = nbformat.from_dict(NEW_NOTEBOOK_METADATA)
    else:
        existing = nbformat.reads(old_text, as_version=4)
        notebook.metadata, notebook.nbformat_minor = existing.metadata, existing.nbformat_minor
        for index, match in enumerate(map_outputs_to_inputs(notebook.cells, existing.cells)):
            if match is None:
                continue
            cell, new = copy.deepcopy(existing.cells[match]), notebook.cells[index]
            cell.source = new.source
            cell.metadata.pop("tags", None)
            cell.metadata.update(new.metadata)  # the source's tags, e.g. papermill's "parameters"
            notebook.cells[index] = cell
    drop_empty_tags(notebook)
    nbformat.validate(notebook)
    new_text = nbformat.writes(notebook)
    new_text += "" if new_text.endswith("\n") else "\n"  # as nbformat.write ends the file
    if new_text == old_text:
        return False
    target.write_text(new_text, encoding="utf-8")
    return True


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


# Run in a shared kernel before each notebook: forget the previous notebook's working directory, its figures, its
# variables and its execution count (IPython's reset, as in a new session).
RESET_CODE = """\
import os as _os, sys as _sys
_os.chdir({cwd!r})
if "matplotlib.pyplot" in _sys.modules:
    _sys.modules["matplotlib.pyplot"].close("all")
get_ipython().reset(new_session=True)
"""


class SharedKernel:
    """One Jupyter kernel in which several notebooks run in turn (--one-kernel): a smoke run that imports TensorFlow
    once instead of once per notebook.

    Before each notebook the kernel forgets the previous one (RESET_CODE), and a kernel that died is restarted. What
    carries over is what a process keeps: imported modules and their caches (loaded networks, traced functions).
    Re-create the committed outputs without it, each notebook in a fresh kernel.
    """

    def __init__(self, cwd: Path = NOTEBOOKS_DIR, kernel_name: str = "python3"):
        from jupyter_client.manager import AsyncKernelManager

        clients = self.clients = []

        class Manager(AsyncKernelManager):
            def client(self, **kwargs):  # remembered, so that each notebook's client can be closed after it
                clients.append(super().client(**kwargs))
                return clients[-1]

        self.cwd, self.manager = cwd, Manager(kernel_name=kernel_name)

    def __enter__(self) -> SharedKernel:
        from jupyter_core.utils import run_sync

        run_sync(self.manager.start_kernel)(cwd=str(self.cwd))
        return self

    def __exit__(self, *exc_info) -> None:
        from jupyter_core.utils import run_sync

        self.close_clients()
        run_sync(self.manager.shutdown_kernel)(now=True)

    def close_clients(self) -> None:
        while self.clients:
            self.clients.pop().stop_channels()

    @contextlib.contextmanager
    def turn(self, cwd: Path):
        """Reset the kernel for the next notebook, which runs in `cwd`; yields papermill's engine arguments."""
        from jupyter_core.utils import run_sync

        if not run_sync(self.manager.is_alive)():
            run_sync(self.manager.restart_kernel)(now=True)
        client = self.manager.client()
        client.start_channels()
        try:
            run_sync(client.wait_for_ready)(timeout=60)
            reply = run_sync(client.execute_interactive)(
                RESET_CODE.format(cwd=str(cwd)), store_history=False, timeout=60, output_hook=lambda message: None,
            )
        finally:
            self.close_clients()
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"could not reset the shared kernel: {reply['content'].get('evalue')}")
        try:
            yield {"km": self.manager}
        finally:
            self.close_clients()


def execute(path: Path, output_dir: Path, parameters: dict[str, Any], timeout: int | None,
            kernel: SharedKernel | None = None) -> float:
    """Run one notebook into output_dir with papermill, in a fresh kernel or in `kernel`; returns seconds taken.
    Raises on a cell error."""
    import nbformat
    import papermill

    started = time.perf_counter()
    output = output_dir / path.name
    try:
        with kernel.turn(path.parent) if kernel else contextlib.nullcontext({}) as engine_arguments:
            papermill.execute_notebook(
                str(path), str(output), parameters=parameters, cwd=str(path.parent),
                kernel_name="python3", progress_bar=False, execution_timeout=timeout, **engine_arguments,
            )
    finally:  # also for a failed run, whose copy shows the error
        if output.exists():
            executed = nbformat.read(output, as_version=4)
            drop_empty_tags(executed)
            nbformat.write(executed, output)
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
                        help="build and run only the notebooks whose file name contains NAME, "
                             "e.g. --only article_001 vgg16")
    parser.add_argument("--build-only", action="store_true",
                        help="write each .ipynb from its .py source (keeping its outputs) and execute nothing")
    parser.add_argument("--no-build", action="store_true",
                        help="execute the notebooks as they are, without building them from their sources first "
                             "(nothing in notebooks/ is written)")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR,
                        help=f"folder for the executed notebooks (default {DEFAULT_OUTPUT_DIR.relative_to(REPO_ROOT)})")
    parser.add_argument("--weights", help="'imagenet' (default; uses $KERAS_STYLE_WEIGHTS_DIR when set), or a .h5 path")
    parser.add_argument("--content", help="content image (default: examples/content.jpg)")
    parser.add_argument("--style", help="style image (default: examples/style.jpg)")
    parser.add_argument("--seed", type=int, help="random seed (notebook default: 0)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="any other notebook parameter, e.g. -p layer_sets=paper (numbers are converted)")
    parser.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: no limit)")
    parser.add_argument("--one-kernel", action="store_true",
                        help="run the notebooks one after another in one kernel, its variables reset in between "
                             "(quicker smoke runs: TensorFlow is imported once); not for the committed outputs")
    parser.add_argument("--list", action="store_true", help="list the notebooks and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = select_notebooks(notebook_paths(), args.only)
    if args.list:
        print("\n".join(path.name for path in paths))
        return 0
    for name, value in (("--size", args.size), ("--iterations", args.iterations)):
        if value is not None and value <= 0:
            raise SystemExit(f"{name} must be a positive integer, got {value}")
    if args.build_only and args.no_build:
        raise SystemExit("--build-only and --no-build exclude each other")
    for path in [] if args.no_build else paths:
        source = path.with_suffix(".py")
        print(f"{'built' if build(source) else 'up to date'}: {path.relative_to(REPO_ROOT)} from {source.name}")
    if args.build_only:
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    output_dir = args.output_dir.expanduser().resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    parameters = parameters_from_args(args)
    failures = []
    with SharedKernel() if args.one_kernel else contextlib.nullcontext() as kernel:
        for path in paths:
            print(f"{path.name} ...", end=" ", flush=True)
            try:
                seconds = execute(path, output_dir, parameters, args.timeout, kernel)
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
