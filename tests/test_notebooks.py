"""The notebooks: each built from its percent-format source, their structure and committed outputs, and every one
executed headless at a tiny size."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import jupytext
import nbformat
import pytest

from .conftest import ROOT

NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
# The notebooks' sources: every Python file in notebooks/ but the helper module they import.
SOURCES = sorted(path for path in NOTEBOOKS_DIR.glob("*.py") if path.name != "notebook_support.py")
ARTICLE_NOTEBOOKS = [path for path in NOTEBOOKS if path.name != "vgg16_vs_vgg19.ipynb"]
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
    for option in ("--size", "--iterations", "--only", "--build-only", "--output-dir", "--weights"):
        assert option in completed.stdout


TINY = {"size": 48, "iterations": 3, "seed": 0}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_executes_without_errors(path, real_weights, tmp_path):
    """Run the notebook headless (papermill) at 48 px with 3 evaluations; any cell error fails the test."""
    run_notebooks = load_script("run_notebooks")
    parameters = dict(TINY, weights="imagenet")
    if path.name == "vgg16_vs_vgg19.ipynb":
        parameters.update(layer_sets="paper", output_dir=str(tmp_path / "grid"))
    run_notebooks.execute(path, tmp_path, parameters, timeout=240)
    executed = nbformat.read(tmp_path / path.name, as_version=4)
    assert not [output for output in outputs_of(executed) if output.output_type == "error"]
    text = "\n".join(output.get("text", "") for output in outputs_of(executed) if output.output_type == "stream")
    images = [output for output in outputs_of(executed) if {"image/png", "image/jpeg"} & set(output.get("data", {}))]
    if path.name == "vgg16_vs_vgg19.ipynb":
        assert "2 runs" in text  # paper layers x (vgg16, vgg19)
        assert (tmp_path / "grid" / "sheet.png").exists()
        tables = [output["data"]["text/markdown"] for output in outputs_of(executed)
                  if "text/markdown" in output.get("data", {})]
        assert tables and "vgg19-paper" in tables[0] and "vgg16-johnson" in tables[0]
        assert len(images) >= 2  # the sheet and the bar charts
    else:
        assert "seconds per evaluation:" in text
        assert len(images) == 2  # content/style/result, and the loss curve
