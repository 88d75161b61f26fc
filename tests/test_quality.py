"""The quality measures (keras_style.run.judge): fine noise, colour distance, and the feature judges' distances."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from keras_style.run.judge import colour_distance, feature_distances, fine_noise, half_size

from .conftest import make_picture


def smooth_picture(width: int = 96, height: int = 64) -> np.ndarray:
    rows, columns = np.mgrid[0:height, 0:width]
    return np.stack([128 + 100 * np.sin(columns / 9.0), 128 + 90 * np.cos(rows / 7.0),
                     128 + 60 * np.sin((rows + columns) / 13.0)], axis=-1).clip(0, 255).astype(np.uint8)


def with_noise(rgb: np.ndarray, scale: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(scale=scale, size=rgb.shape)
    return np.clip(rgb + noise, 0, 255).round().astype(np.uint8)


def test_fine_noise_rises_with_added_noise_and_falls_with_a_blur():
    clean = smooth_picture()
    levels = [fine_noise(with_noise(clean, scale)) for scale in (0.0, 4.0, 12.0)]
    for name in ("luma", "chroma"):
        values = [level[name] for level in levels]
        assert values[0] < values[1] < values[2], (name, values)
    noisy = with_noise(clean, 12.0)
    blurred = np.asarray(Image.fromarray(noisy).filter(ImageFilter.GaussianBlur(1.5)))
    assert fine_noise(blurred)["luma"] < 0.5 * fine_noise(noisy)["luma"]
    assert fine_noise(blurred)["chroma"] < 0.5 * fine_noise(noisy)["chroma"]


def test_chroma_noise_ignores_grey_noise():
    grey = np.repeat(with_noise(np.full((64, 64, 1), 128, np.uint8), 10.0), 3, axis=2)
    measured = fine_noise(grey)
    assert measured["luma"] > 5.0 and measured["chroma"] < 0.5


def test_colour_distance_is_zero_against_itself_and_rises_as_colours_move():
    picture = smooth_picture()
    assert colour_distance(picture, picture) == pytest.approx(0.0, abs=1e-3)
    shifts = [colour_distance(picture, np.clip(picture.astype(int) + [shift, 0, -shift], 0, 255).astype(np.uint8))
              for shift in (5, 20, 60)]
    assert 0 < shifts[0] < shifts[1] < shifts[2]
    # a pure shift of the mean is the distance itself where nothing clips
    assert colour_distance(np.full((8, 8, 3), 100, np.uint8), np.full((8, 8, 3), [103, 104, 100], np.uint8)) \
        == pytest.approx(5.0, abs=1e-6)


def test_half_size_halves_each_side():
    assert half_size(smooth_picture(97, 64)).shape == (32, 48, 3)


def test_feature_distances_are_zero_for_the_image_itself_and_positive_otherwise():
    content = make_picture(64, 48, seed=1, kind="content").astype(np.uint8)
    painting = make_picture(80, 56, seed=2, kind="style").astype(np.uint8)
    same = feature_distances(content, content, content, "vgg16", weights="none")
    assert same == {"content": 0.0, "style": 0.0}
    other = feature_distances(painting[:48, :64], content, painting, "vgg16", weights="none")
    assert other["content"] > 0 and other["style"] > 0


def test_the_quality_benchmark_runs_end_to_end_on_one_pair(tmp_path):
    import importlib.util
    import json
    import shutil
    import sys

    from .conftest import ROOT

    images, reference = tmp_path / "images", tmp_path / "reference"
    images.mkdir()
    reference.mkdir()
    shutil.copy(ROOT / "examples" / "content.jpg", images / "town.jpg")
    shutil.copy(ROOT / "examples" / "style.jpg", images / "the-swirls.jpg")
    shutil.copy(ROOT / "examples" / "style2.jpg", images / "other.jpg")
    # a stand-in reference result: the painting itself (named CONTENT_STYLE after the two files' stems)
    Image.open(ROOT / "examples" / "style.jpg").convert("RGB").save(reference / "town_swirls.png")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("quality_benchmark", ROOT / "benchmarks" / "quality.py")
        benchmark = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(benchmark)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    output = tmp_path / "out"
    assert benchmark.main(["--images", str(images), "--reference", str(reference), "--size", "64", "--iterations",
                           "3", "--weights", "none", "--row", "default=", "--row", "smooth=--tv-weight 1",
                           "--output-dir", str(output)]) == 0
    report = json.loads((output / "quality.json").read_text())
    (pair,) = report["pairs"]
    assert pair["name"] == "town_swirls" and [row["name"] for row in pair["rows"]] == ["default", "smooth"]
    assert pair["rows"][1]["options"] == {"tv_weight": "1.0"}
    for row in pair["rows"]:
        assert set(row["ratios"]) == set(benchmark.MEASURES) and all(value > 0 for value in row["ratios"].values())
        assert row["evaluations"] >= 3 and row["seconds"] > 0
    # the reference is the painting: its colour distance to itself is ~0, so a result's colour ratio is huge
    assert pair["reference"]["colours"] < 1.0 < row["measures"]["colours"]
    assert "| default |" in (output / "quality.md").read_text()
    sheet = Image.open(output / "town_swirls.jpg")
    assert sheet.height == 64 + 20 and sheet.width > 4 * 48  # content, painting, reference, two rows
