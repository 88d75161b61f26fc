"""The notebooks: each built from its percent-format source, their structure and committed outputs, every one's code
checked without running it, and one article of each family and the comparison executed headless at a tiny size."""
from __future__ import annotations

import ast
import contextlib
import csv
import dataclasses
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from .conftest import ROOT

NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
# The notebooks' sources: every Python file in notebooks/ but the helper module they import.
SOURCES = sorted(path for path in NOTEBOOKS_DIR.glob("*.py") if path.name != "notebook_support.py")
COMPARISON_NOTEBOOK = NOTEBOOKS_DIR / "vgg16_vs_vgg19.ipynb"
ARTICLE_NOTEBOOKS = [path for path in NOTEBOOKS if path != COMPARISON_NOTEBOOK]
# The articles the suite executes: one per family, whose code cells are the same but for the preset, the parameters'
# defaults and the settings printed (001-003: the Keras-backend articles with the restart loop; 000 and 004: the
# PyTorch articles; the Keras 3 example). Every preset runs end to end in tests/test_stylize.py, and every notebook's
# code is checked without running it (test_notebook_code_compiles_and_uses_what_exists).
EXECUTED_ARTICLES = [NOTEBOOKS_DIR / f"{stem}.ipynb" for stem in (
    "article_001_keras_vgg16_johnson_layers", "article_004_pytorch_vgg19_gradient_descent",
    "keras_example_keras3_vgg19_sgd",
)]
# The helper functions each notebook must call.
ARTICLE_SUPPORT = {"input_pair", "settings_table", "run_summary", "display_pictures", "plot_run_losses"}
COMPARISON_SUPPORT = {"input_pair", "output_folder"}
MAX_NOTEBOOK_BYTES = 1_500_000
REQUIRED_PARAMETERS = ("content", "style", "size", "iterations", "weights")


def load_script(name: str):
    """Import scripts/NAME.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is being built
    spec.loader.exec_module(module)
    return module


def parameters_cell(notebook) -> nbformat.NotebookNode:
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must carry the papermill 'parameters' tag"
    return tagged[0]


def outputs_of(notebook) -> list:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]


def cell_inputs(notebook) -> list[tuple[str, str, bool]]:
    """What a source declares of each cell: its type, its text, and whether it is papermill's parameters cell."""
    return [(cell.cell_type, cell.source, "parameters" in cell.metadata.get("tags", [])) for cell in notebook.cells]


def test_every_notebook_has_a_percent_format_source():
    assert {path.stem for path in NOTEBOOKS} == {path.stem for path in SOURCES}
    for source in SOURCES:
        text = source.read_text()
        assert text.startswith("# %% [markdown]\n"), f"{source.name} must open with its title in a markdown cell"
        assert text.count('# %% tags=["parameters"]\n') == 1, f"{source.name} needs one parameters cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_matches_its_source(path):
    """The committed .ipynb has exactly the cells of its .py source: edit the source, then build the notebook."""
    built = cell_inputs(nbformat.read(path, as_version=4))
    declared = cell_inputs(jupytext.read(path.with_suffix(".py"), fmt="py:percent"))
    assert built == declared, (
        f"{path.name} differs from {path.with_suffix('.py').name}: run `python scripts/run_notebooks.py "
        f"--build-only --only {path.stem}` (keeps the outputs) or `make notebooks`"
    )


def test_build_updates_the_text_and_keeps_the_outputs(tmp_path):
    """Building an up-to-date notebook changes nothing; after a prose and a code edit in the source the notebook
    has the new cells and still every output, execution count and papermill record."""
    run_notebooks = load_script("run_notebooks")
    name = "article_004_pytorch_vgg19_gradient_descent"
    for suffix in (".py", ".ipynb"):
        shutil.copy(NOTEBOOKS_DIR / f"{name}{suffix}", tmp_path)
    source, target = tmp_path / f"{name}.py", tmp_path / f"{name}.ipynb"
    committed = target.read_bytes()
    assert run_notebooks.build(source) is False and target.read_bytes() == committed
    text = source.read_text()
    assert text.count("# ## Content, style and result\n") == 1 and text.count("plt.show()\n") == 1
    source.write_text(text.replace("# ## Content, style and result\n", "# ## Content, style and picture\n")
                      .replace("plt.show()\n", "plt.show()  # the curve\n"))
    assert run_notebooks.build(source) is True
    before, after = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4), nbformat.read(target, as_version=4)
    assert cell_inputs(after) == cell_inputs(jupytext.read(source, fmt="py:percent")) != cell_inputs(before)
    for old, new in zip(before.cells, after.cells):
        assert new.metadata == old.metadata and new.get("outputs") == old.get("outputs")
        assert new.get("execution_count") == old.get("execution_count")


def test_every_article_and_the_comparison_have_a_notebook():
    names = {path.name for path in NOTEBOOKS}
    for number in range(5):
        assert any(name.startswith(f"article_{number:03d}_") for name in names), f"no notebook for article {number}"
    assert "vgg16_vs_vgg19.ipynb" in names
    assert any("keras3" in name for name in names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_committed_notebook_is_small_has_parameters_and_clean_outputs(path):
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    source = parameters_cell(notebook).source
    for name in REQUIRED_PARAMETERS:
        assert f"\n{name} = " in f"\n{source}", f"parameter {name} missing"
    assert "examples/content.jpg" in source and "examples/style.jpg" in source
    # Committed outputs: every code cell ran, none failed, and the pictures are embedded.
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells), "commit the executed notebook"
    outputs = outputs_of(notebook)
    assert not [output for output in outputs if output.output_type == "error"]
    assert any("image/jpeg" in output.get("data", {}) for output in outputs)
    # Only the project's own demo pair may appear in committed outputs.
    text = path.read_text()
    assert "/work/shared" not in text and "tubingen" not in text.lower()


@pytest.mark.parametrize("path", ARTICLE_NOTEBOOKS, ids=lambda path: path.stem)
def test_article_notebook_uses_its_preset_and_explains_differences(path):
    import keras_style

    notebook = nbformat.read(path, as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    presets = [name for name in keras_style.PRESETS if f'PRESET = "{name}"' in code]
    assert len(presets) == 1
    assert "stylize_result(" in code
    closing = notebook.cells[-1]
    assert closing.cell_type == "markdown" and "differs" in closing.source


def load_notebook_support():
    spec = importlib.util.spec_from_file_location("notebook_support", NOTEBOOKS_DIR / "notebook_support.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def python_of(cell_source: str) -> str:
    """A code cell's text without IPython's magics and shell escapes (lines starting with % or !)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell_source.splitlines())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_code_compiles_and_uses_what_exists(path):
    """Without running it: every code cell compiles, every `support.NAME` exists in notebook_support.py, the notebook
    calls the helpers it needs, and the settings an article prints under its run are Settings fields."""
    import keras_style

    support = load_notebook_support()
    notebook = nbformat.read(path, as_version=4)
    used, shown = set(), []
    for index, cell in enumerate(cell for cell in notebook.cells if cell.cell_type == "code"):
        tree = compile(python_of(cell.source), f"{path.name}, code cell {index}", "exec", ast.PyCF_ONLY_AST)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "support":
                used.add(node.attr)
            if isinstance(node, ast.Assign) and [getattr(target, "id", None) for target in node.targets] == ["SHOWN"]:
                shown = ast.literal_eval(node.value)
    assert not [name for name in used if not hasattr(support, name)], "notebook_support.py lacks them"
    assert (COMPARISON_SUPPORT if path == COMPARISON_NOTEBOOK else ARTICLE_SUPPORT) <= used
    if path != COMPARISON_NOTEBOOK:
        fields = {field.name for field in dataclasses.fields(keras_style.Settings)}
        assert shown and not set(shown) - fields


def test_run_notebooks_selects_and_parses_parameters():
    run_notebooks = load_script("run_notebooks")
    paths = run_notebooks.notebook_paths()
    assert paths == NOTEBOOKS
    assert [path.name for path in run_notebooks.select_notebooks(paths, ["ARTICLE_001"])] == [
        "article_001_keras_vgg16_johnson_layers.ipynb"
    ]
    with pytest.raises(SystemExit):
        run_notebooks.select_notebooks(paths, ["no-such-notebook"])
    assert run_notebooks.parse_parameter("size=64") == ("size", 64)
    assert run_notebooks.parse_parameter("layer_sets=paper,johnson") == ("layer_sets", "paper,johnson")
    args = run_notebooks.build_parser().parse_args(["--size", "48", "-p", "seed=3"])
    assert run_notebooks.parameters_from_args(args) == {"size": 48, "seed": 3}


def test_run_notebooks_help_names_every_option():
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_notebooks.py"), "--help"], capture_output=True, text=True,
    )
    assert completed.returncode == 0
    for option in ("--size", "--iterations", "--only", "--build-only", "--no-build", "--output-dir", "--weights",
                   "--one-kernel"):
        assert option in completed.stdout


TINY = {"size": 48, "iterations": 3, "seed": 0}


def test_shared_kernel_forgets_each_notebook(tmp_path):
    """run_notebooks' --one-kernel, with which the articles run below, cannot hide a notebook that only works after
    another: the next notebook starts without the previous one's variables, working directory or execution count."""
    run_notebooks = load_script("run_notebooks")
    (tmp_path / "elsewhere").mkdir()
    first = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import os\nleft_behind = 1\nos.chdir({str(tmp_path / 'elsewhere')!r})")])
    second = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import os\nassert os.getcwd() == {str(tmp_path)!r}, os.getcwd()\nleft_behind")])
    for name, notebook in (("first.ipynb", first), ("second.ipynb", second)):
        notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(notebook, tmp_path / name)
    with run_notebooks.SharedKernel(cwd=tmp_path) as kernel:
        run_notebooks.execute(tmp_path / "first.ipynb", tmp_path / "elsewhere", {}, timeout=60, kernel=kernel)
        with pytest.raises(Exception, match="NameError"):
            run_notebooks.execute(tmp_path / "second.ipynb", tmp_path / "elsewhere", {}, timeout=60, kernel=kernel)
    second = nbformat.read(tmp_path / "elsewhere" / "second.ipynb", as_version=4)
    (cell,) = [cell for cell in second.cells if cell.cell_type == "code"]  # papermill put an error note above it
    assert cell.execution_count == 1 and [output.get("ename") for output in cell.outputs] == ["NameError"]


@pytest.fixture(scope="module")
def comparison_run(real_weights, tmp_path_factory):
    """scripts/run_notebooks.py running the comparison notebook as a user runs it (a fresh kernel; its grid, of one
    cell, a fresh process per cell, compare_layers.py's default), started in the background so that it runs while the
    articles do. Yields a function that waits for it: (the completed command, the folder of its outputs)."""
    folder = tmp_path_factory.mktemp("comparison")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "run_notebooks.py"), "--no-build", "--only", COMPARISON_NOTEBOOK.stem,
         "--size", str(TINY["size"]), "--iterations", str(TINY["iterations"]), "--seed", str(TINY["seed"]),
         "--weights", "imagenet", "-p", "networks=vgg16", "-p", "layer_sets=paper",
         "-p", f"output_dir={folder / 'grid'}", "--output-dir", str(folder), "--timeout", "240"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    finished = []

    def wait() -> tuple[subprocess.CompletedProcess, Path]:
        if not finished:
            stdout, stderr = process.communicate(timeout=300)
            finished.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
        return finished[0], folder

    yield wait
    if not finished:  # the comparison's test did not run or failed before waiting: stop the run, kernel and grid
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


@pytest.fixture(scope="module")
def executed_articles(real_weights, comparison_run, tmp_path_factory) -> dict:
    """EXECUTED_ARTICLES run headless (papermill) at 48 px with 3 evaluations, all in one kernel (run_notebooks'
    --one-kernel: TensorFlow is imported once, not once per notebook). Each notebook's executed copy, or the error
    its run raised."""
    run_notebooks = load_script("run_notebooks")
    folder = tmp_path_factory.mktemp("notebooks")
    executed = {}
    with run_notebooks.SharedKernel() as kernel:
        for path in EXECUTED_ARTICLES:
            try:
                run_notebooks.execute(path, folder, dict(TINY, weights="imagenet"), timeout=240, kernel=kernel)
                executed[path.name] = nbformat.read(folder / path.name, as_version=4)
            except Exception as error:  # this notebook's test fails with it; the others still run
                executed[path.name] = error
    return executed


def stream_text(notebook) -> str:
    return "\n".join(output.get("text", "") for output in outputs_of(notebook) if output.output_type == "stream")


def pictures(notebook) -> list:
    return [output for output in outputs_of(notebook) if {"image/png", "image/jpeg"} & set(output.get("data", {}))]


@pytest.mark.parametrize("path", EXECUTED_ARTICLES, ids=lambda path: path.stem)
def test_notebook_executes_without_errors(path, executed_articles):
    """Any cell error fails the notebook's test; every article prints its speed and shows two figures."""
    executed = executed_articles[path.name]
    if isinstance(executed, Exception):
        pytest.fail(f"{path.name} failed: {executed}")
    assert not [output for output in outputs_of(executed) if output.output_type == "error"]
    assert "seconds per evaluation:" in stream_text(executed)
    assert len(pictures(executed)) == 2  # content/style/result, and the loss curve


def test_comparison_notebook_executes_without_errors(comparison_run):
    """The comparison notebook run by scripts/run_notebooks.py (see comparison_run) on a grid of one cell: every cell
    of the notebook ran, and the grid's cell ran in a process of its own, whose peak memory the CSV reports
    (tests/test_compare_layers.py runs a larger grid in one process)."""
    completed, folder = comparison_run()
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    executed = nbformat.read(folder / COMPARISON_NOTEBOOK.name, as_version=4)
    assert not [output for output in outputs_of(executed) if output.output_type == "error"]
    assert "1 runs" in stream_text(executed)  # paper layers x vgg16
    assert (folder / "grid" / "sheet.png").exists()
    tables = [output["data"]["text/markdown"] for output in outputs_of(executed)
              if "text/markdown" in output.get("data", {})]
    assert tables and "vgg19-paper" in tables[0] and "vgg16-johnson" in tables[0]
    assert len(pictures(executed)) >= 2  # the sheet and the bar charts
    with open(folder / "grid" / "results.csv", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert (row["layer_set"], row["network"]) == ("paper", "vgg16")
    assert float(row["peak_rss_mib"]) > 200  # the cell's own process: TensorFlow plus a VGG, a real measurement
