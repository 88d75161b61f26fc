"""The library reports, callers draw: Progress events after each evaluation, a callback that stops a run, inputs
loaded once per run."""
import dataclasses
import json
import signal

import numpy as np
import pytest

import keras_style
from keras_style.apps import cli
from keras_style.run import loading

from .conftest import CONTENT, STYLE

RANDOM = dict(weights="none", size=48, precision="float32")


def test_a_callback_collects_one_event_per_evaluation():
    events = []
    result = keras_style.stylize_result(CONTENT, STYLE, iterations=5, callback=events.append, **RANDOM)
    assert [event.evaluation for event in events] == list(range(1, result.evaluations + 1))
    first, last = events[0], events[-1]
    assert (first.total, first.scale, first.size) == (5, 0, (48, 36))
    assert set(first.terms) == {"total", "content", "style", "tv"}
    assert tuple(first.style_layers) == result.settings.style_layers
    # the per-layer losses are the style term's parts
    assert sum(last.style_layers.values()) == pytest.approx(last.terms["style"], rel=1e-5)
    assert first.terms["total"] == pytest.approx(result.losses["initial"]["total"], rel=1e-6)
    assert all(later.elapsed >= earlier.elapsed for earlier, later in zip(events, events[1:]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.evaluation = 7
    image = last.best_image()
    assert image.dtype == np.uint8 and image.shape == (36, 48, 3)
    np.testing.assert_array_equal(image, result.image)  # the last best image is the result


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_callback_that_returns_true_stops_the_run_with_the_best_image(optimizer):
    seen, totals = [], []

    def stop_at_third(event):
        seen.append(event.evaluation)
        totals.append(event.terms["total"])
        return event.evaluation == 3

    result = keras_style.stylize_result(CONTENT, STYLE, iterations=20, optimizer=optimizer, callback=stop_at_third,
                                        **RANDOM)
    assert result.interrupted and result.evaluations == 3 and seen == [1, 2, 3]
    # the result is the best of the three evaluations (not the last one: L-BFGS's second is a line-search trial
    # above the start), and it is below the start
    assert result.image.shape == (36, 48, 3) and min(totals) < totals[0] == result.losses["initial"]["total"]
    assert result.losses["final"]["total"] == pytest.approx(min(totals), rel=1e-5)


def test_several_callbacks_each_see_every_event():
    first, second = [], []
    keras_style.stylize_result(CONTENT, STYLE, iterations=3, optimizer="gd", callback=[first.append, second.append],
                               **RANDOM)
    assert len(first) == len(second) == 3 and first == second


def test_the_command_line_loads_each_input_once_over_two_scales(tmp_path, monkeypatch):
    loads = []
    real_load = loading.load_image

    def counting_load(source, what="image"):
        loads.append(what)
        return real_load(source, what)

    monkeypatch.setattr(loading, "load_image", counting_load)
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        # 96 px plans two scales, 68 px and 96 px (plan.scale_plan: 96 / sqrt(2) is above MIN_SCALE_SIZE; 64 px
        # would plan one), one evaluation each
        code = cli.main([str(CONTENT), str(STYLE), str(tmp_path / "out.png"), "--weights", "none", "--size", "96",
                         "--iterations", "2", "--scales", "2", "--quiet"])
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    assert code == 0 and (tmp_path / "out.png").exists()
    scales = json.loads((tmp_path / "out.json").read_text())["scales"]
    # both scales ran, coarse to fine (the content is 4:3), each with its evaluation
    assert [(scale["size"], scale["evaluations"]) for scale in scales] == [([68, 51], 1), ([96, 72], 1)]
    assert sorted(loads) == ["content image", "style image"]  # loaded once for the run, not once per scale
