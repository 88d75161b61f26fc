"""scripts/compare_layers.py: the layer sets map onto each network, and a tiny real grid yields sheet, CSV and table."""
from __future__ import annotations

import csv
import importlib.util
import math
import subprocess
import sys

import pytest
from PIL import Image

from keras_style.config.layers import valid_layers

from .conftest import ROOT

SCRIPT = ROOT / "scripts" / "compare_layers.py"
JUDGE_COLUMNS = [
    f"{judge}_{term}" for judge in ("vgg19-paper", "vgg16-johnson") for term in ("total", "content", "style")
]


def load_compare_layers():
    spec = importlib.util.spec_from_file_location("compare_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is being built
    spec.loader.exec_module(module)
    return module


compare_layers = load_compare_layers()


@pytest.mark.parametrize("network", ["vgg16", "vgg19"])
def test_every_layer_set_maps_to_the_networks_own_layers(network):
    for layer_set in compare_layers.LAYER_SETS.values():
        content, style = layer_set.layers(network)
        assert content and len(style) == 5
        assert set(content + style) <= set(valid_layers(network))


def test_deepest_set_uses_each_networks_last_convolutions():
    assert compare_layers.LAYER_SETS["deepest"].layers("vgg16") == (
        ("block4_conv3",), ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3"),
    )
    assert compare_layers.LAYER_SETS["deepest"].layers("vgg19") == (
        ("block4_conv4",), ("block1_conv2", "block2_conv2", "block3_conv4", "block4_conv4", "block5_conv4"),
    )
    # Only the network and the layers may differ between cells.
    cell = compare_layers.Cell("johnson", "vgg19", "c.jpg", "s.jpg", 64, 5, 0, "imagenet")
    options = cell.options()
    assert options["content_layers"] == ("block2_conv2",)
    assert (options["normalization"], options["content_weight"], options["style_weight"]) == ("paper", 1.0, 1e3)


def test_help_documents_every_option():
    completed = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True)
    assert completed.returncode == 0
    for option in ("--content", "--style", "--size", "--iterations", "--seed", "--networks", "--layer-sets",
                   "--output-dir", "--weights", "--in-process"):
        assert option in completed.stdout
    for name in compare_layers.LAYER_SETS:
        assert name in completed.stdout


def test_unknown_layer_set_is_refused():
    completed = subprocess.run([sys.executable, str(SCRIPT), "--layer-sets", "paper,bogus"],
                               capture_output=True, text=True)
    assert completed.returncode == 2 and "bogus" in completed.stderr


# The layer sets the assertions below need: each judge's own setting is in them (paper/vgg19, johnson/vgg16). The
# deepest set, the one whose layer names differ between the networks, is checked without a run above; every cell's
# CSV row is checked against its set's mapping below.
GRID_SETS = ("paper", "johnson")


@pytest.fixture(scope="module")
def grid(real_weights, tmp_path_factory):
    """A grid of GRID_SETS x 2 networks at 64 px with 3 evaluations per cell (scipy's first step takes 3): the
    script's main() with --in-process, run here, where TensorFlow is already imported (each network then loads once
    for all cells). The default, a fresh process per cell with its own peak memory, runs in tests/test_notebooks.py
    through the vgg16_vs_vgg19 notebook."""
    output_dir = tmp_path_factory.mktemp("grid")
    assert compare_layers.main(["--size", "64", "--iterations", "3", "--seed", "1", "--layer-sets",
                                ",".join(GRID_SETS), "--output-dir", str(output_dir), "--in-process"]) == 0
    return output_dir


def read_rows(grid) -> list[dict[str, str]]:
    with open(grid / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_has_both_judges_for_every_cell(grid):
    rows = read_rows(grid)
    cells = {(row["layer_set"], row["network"]) for row in rows}
    assert cells == {(name, network) for name in GRID_SETS for network in ("vgg16", "vgg19")}
    for row in rows:
        for column in JUDGE_COLUMNS + ["own_total", "seconds_per_evaluation", "wall_seconds"]:
            value = float(row[column])
            assert math.isfinite(value) and value > 0, (row["layer_set"], row["network"], column)
        assert int(row["evaluations"]) >= 2
        assert row["peak_rss_mib"] == ""  # cells sharing a process have no peak of their own: none is made up


def test_each_cell_ran_its_sets_layers_on_its_network(grid):
    """The CSV records the layers the run used (its settings), and they are the set's mapping onto the network."""
    for row in read_rows(grid):
        content, style = compare_layers.LAYER_SETS[row["layer_set"]].layers(row["network"])
        assert (row["content_layers"].split(), row["style_layers"].split()) == (list(content), list(style))


def test_own_loss_agrees_with_the_judge_that_shares_its_settings(grid):
    """paper/vgg19 is the vgg19-paper judge's own setting, johnson/vgg16 the vgg16-johnson judge's."""
    rows = {(row["layer_set"], row["network"]): row for row in read_rows(grid)}
    paper = rows[("paper", "vgg19")]
    johnson = rows[("johnson", "vgg16")]
    assert float(paper["own_total"]) == pytest.approx(float(paper["vgg19-paper_total"]), rel=0.05)
    assert float(johnson["own_total"]) == pytest.approx(float(johnson["vgg16-johnson_total"]), rel=0.05)


def test_markdown_table_has_a_row_with_both_judges_per_cell(grid):
    lines = (grid / "results.md").read_text().splitlines()
    header, data = lines[0], lines[2:]
    assert "vgg19-paper total" in header and "vgg16-johnson total" in header
    assert len(data) == 2 * len(GRID_SETS)
    columns = [name.strip() for name in header.strip("|").split("|")]
    for line in data:
        values = dict(zip(columns, (value.strip() for value in line.strip("|").split("|"))))
        for judge in ("vgg19-paper", "vgg16-johnson"):
            assert float(values[f"{judge} total"]) > 0
        assert values["peak RSS MiB"] == "n/a"


def test_contact_sheet_has_a_labelled_cell_per_run(grid):
    sheet = Image.open(grid / "sheet.png")
    cell = Image.open(grid / "paper_vgg16.png")
    # a row of pictures with labels under them per layer set, 2 columns
    assert sheet.width >= 2 * cell.width and sheet.height >= len(GRID_SETS) * cell.height
    assert len(list(grid.glob("*_vgg1[69].png"))) == 2 * len(GRID_SETS)
