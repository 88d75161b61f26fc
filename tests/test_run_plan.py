"""One plan per run (run/assemble.py's RunPlan) and records that tell the truth: input errors before TensorFlow, the
progress bar's total from the plan, a tiled run's initial loss over the whole image, stylize_result's options."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import keras_style
from keras_style.config.settings import Settings
from keras_style.files.images import preprocess
from keras_style.run.assemble import assemble, feature_model_for, settings_evaluator
from keras_style.run.loading import prepare

from .conftest import CONTENT, ROOT, STYLE, make_picture

# The command run with TensorFlow's, Keras's and JAX's imports refused: an input error must be reported before any.
BLOCKED_RUN = textwrap.dedent("""
    import sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "jax"):
                raise ImportError(f"{name} imported before the input was checked")

    sys.meta_path.insert(0, Refuse())
    from keras_style.apps import cli, video
    main = video.main if sys.argv[1] == "video" else cli.main
    sys.exit(main(sys.argv[2:] if sys.argv[1] == "video" else sys.argv[1:]))
""")


def run_blocked(*arguments) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKED_RUN, *map(str, arguments)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_the_block_refuses_tensorflow(tmp_path):
    """The harness itself: a valid run gets as far as TensorFlow's import, which fails (exit 1, the import named)."""
    done = run_blocked(CONTENT, STYLE, tmp_path / "out.png", "--size", "48", "--weights", "none")
    assert done.returncode == 1 and "imported before the input was checked" in done.stderr, done.stderr
    assert not (tmp_path / "out.png").exists()


def _mask(path, value: int):
    Image.new("L", (64, 48), value).save(path)
    return path


@pytest.mark.parametrize("case", ["w2 with masks", "black masks", "video with tiles", "missing weights file"])
def test_the_late_input_errors_come_before_tensorflow(case, tmp_path):
    output = tmp_path / "out.png"
    if case == "w2 with masks":
        done = run_blocked(CONTENT, STYLE, output, "--style-loss", "w2", "--content-mask",
                           _mask(tmp_path / "white.png", 255), "--size", "48")
        expected = "--style-loss w2 paints the whole image: masks need --style-loss gram"
    elif case == "black masks":
        done = run_blocked(CONTENT, STYLE, output, "--content-mask", _mask(tmp_path / "black.png", 0), "--size", "48")
        expected = "the masks leave no region for the style to paint at"
    elif case == "missing weights file":
        done = run_blocked(CONTENT, STYLE, output, "--weights", tmp_path / "vgg19.h5", "--size", "48")
        expected = f"weights file '{tmp_path / 'vgg19.h5'}' does not exist"
    else:
        frames = tmp_path / "frames"
        frames.mkdir()
        for index in range(2):
            Image.fromarray(make_picture(160, 120, seed=index)).save(frames / f"frame{index}.png")
        output = tmp_path / "stylized"
        done = run_blocked("video", frames, STYLE, output, "--size", "128", "--tile-size", "64")
        expected = "a video frame is optimised whole: give --tile-size off or a smaller --size"
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"keras-style: error: {expected}" or expected in done.stderr.strip().splitlines()[0]
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not output.exists()


TILED = dict(preset="gatys", weights="none", precision="float32", seed=0, size=160, tile_size=64, iterations=2,
             init="noise", optimizer="gd", style_layers=["conv1_1", "conv2_1"], content_layers=["conv2_2"])


def _flags(options: dict) -> list[str]:
    flags = []
    for name, value in options.items():
        flags += [f"--{name.replace('_', '-')}", *(map(str, value) if isinstance(value, list) else [str(value)])]
    return flags


@pytest.fixture(scope="module")
def tiled_run(tmp_path_factory):
    """The command line on a 160x120 picture in 64-px tiles (the first tile's window, 64 + 80 px of context, is not
    the whole image): (its progress bar, each event it drew, the sidecar)."""
    from keras_style.apps import callbacks, cli

    bars = []

    class RecordingBar(callbacks.ProgressBar):
        def __init__(self, total: int, *args, **kwargs) -> None:
            super().__init__(total, *args, **kwargs)
            self.first_total, self.events = total, []
            bars.append(self)

        def __call__(self, event) -> None:
            self.events.append(event)
            super().__call__(event)

    output = tmp_path_factory.mktemp("tiled") / "out.png"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(callbacks, "ProgressBar", RecordingBar)
        assert cli.main([str(CONTENT), str(STYLE), str(output), *_flags(TILED)]) == 0
    (bar,) = bars
    return bar, bar.events, json.loads(output.with_suffix(".json").read_text())


def test_the_progress_bar_total_is_the_evaluations_a_tiled_run_spends(tiled_run):
    bar, events, record = tiled_run
    tiles = record["scales"][-1]["tiles"]
    assert len(tiles["per_pass"]) == 2 and tiles["per_pass"][0] > 1 and tiles["evaluations_per_tile"] == 1
    # the settings' 2 evaluations are each tile's share (1) times every tile: the plan knows, the settings do not
    assert bar.first_total == record["evaluation_budget"] == sum(tiles["per_pass"]) > TILED["iterations"]
    assert record["evaluations"] == record["evaluation_budget"]
    assert {event.total for event in events} == {bar.first_total}  # never grew, never shrank
    assert bar.bar.total == bar.bar.n == record["evaluations"]


def test_a_tiled_run_reports_its_initial_loss_over_the_whole_image(tiled_run):
    _, events, record = tiled_run
    settings = Settings.from_options(**TILED)
    images = prepare(CONTENT, STYLE, settings).final
    whole = settings_evaluator(feature_model_for(settings), settings, preprocess(images.content),
                               [preprocess(style) for style in images.styles])
    start = whole.terms_at(preprocess(images.start))
    initial = record["losses"]["initial"]
    assert initial["total"] == pytest.approx(float(start[0]), rel=1e-4)
    assert initial["content"] == pytest.approx(float(start[1]), rel=1e-4)
    # the first evaluation's content term saw only the first tile's window (else this test would prove nothing)
    assert events[0].terms["content"] < 0.95 * float(start[1])


def test_stylize_result_takes_settings_or_options_not_both():
    settings = Settings.from_options(size=48, weights="none")
    with pytest.raises(TypeError, match="settings or options, not both"):
        keras_style.stylize_result(CONTENT, STYLE, settings=settings, size=96)
    with pytest.raises(TypeError, match="a schedule or prepared inputs"):
        keras_style.stylize_result(CONTENT, STYLE, settings=settings, prepared=prepare(CONTENT, STYLE, settings),
                                   schedule=[(48, 2)])


def test_the_plan_is_frozen_and_holds_each_fact_once():
    settings = Settings.from_options(size=96, iterations=20, weights="none", scales=2, scale_budget="equal")
    plan = assemble(settings, prepare(CONTENT, STYLE, settings))
    assert [scale.size for scale in plan.scales] == [(68, 51), (96, 72)] and plan.output_size == (96, 72)
    assert [scale.budget for scale in plan.scales] == [10, 10] and plan.evaluation_budget == 20
    assert plan.shares == (1.0,) and plan.network.precision in ("float32", "mixed")
    assert all(scale.compute.precision == plan.network.precision for scale in plan.scales)
    np.testing.assert_array_equal(plan.scales[-1].images.photo, plan.scales[-1].images.content)
    with pytest.raises(AttributeError):
        plan.mode = "concat"
