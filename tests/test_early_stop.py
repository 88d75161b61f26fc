"""Early stop (--min-improvement, --patience) and each layer's final loss (sidecar, --verbose)."""
import json

import numpy as np
import pytest

import keras_style
from keras_style.config.settings import Settings
from keras_style.errors import UserError
from keras_style.run.monitor import Monitor

from .conftest import CONTENT, STYLE
from .test_budgets import run_main

RANDOM = dict(weights="none", size=48, precision="float32", seed=0)


def test_converged_compares_the_best_loss_over_the_patience_window():
    monitor = Monitor(total=100, min_improvement=0.1, patience=3)
    monitor.start_scale(0, (2, 2), (), {"content": 1.0, "style": 1.0, "tv": 0.0})
    image = np.zeros((1, 2, 2, 3), dtype=np.float32)
    for loss in (100.0, 80.0, 70.0):
        monitor(np.array([loss, 0.0, loss, 0.0]), image)
    monitor(np.array([65.0, 0.0, 65.0, 0.0]), image)  # 100 -> 65 over 3 evaluations: still improving
    monitor(np.array([500.0, 0.0, 500.0, 0.0]), image)  # a worse trial point does not count: best stays 65
    with pytest.raises(keras_style.errors.Converged):
        monitor(np.array([66.0, 0.0, 66.0, 0.0]), image)  # 70 -> 65 over 3 evaluations: under 10 %


def test_early_stop_ends_a_converged_run_before_its_budget_and_says_why(real_weights):
    # at 48 px the best loss falls by more than 5 % over every 3 evaluations until about the 28th (on a 2-core AMD
    # EPYC in float32 this run converged at 30 of 400 evaluations)
    options = dict(size=48, seed=0, min_improvement=0.05, patience=3)
    stopped = keras_style.stylize_result(CONTENT, STYLE, iterations=400, **options)
    assert stopped.stopped == "converged" and 15 < stopped.evaluations < 400
    # the same early stop with a budget it exhausts first says so
    full = keras_style.stylize_result(CONTENT, STYLE, iterations=12, **options)
    assert full.stopped == "budget" and full.evaluations >= 12


def test_early_stop_settings_are_validated():
    for options, fragment in ((dict(min_improvement=-0.01), "--min-improvement"), (dict(min_improvement=-1.0),
                              "--min-improvement"), (dict(patience=0), "--patience")):
        with pytest.raises(UserError, match=fragment):
            Settings.from_options(**options)
    # 0 turns a preset's early stop off: the whole budget runs
    monitor = Monitor(total=10, min_improvement=Settings.from_options(min_improvement=0).min_improvement, patience=1)
    monitor.start_scale(0, (2, 2), (), {"content": 1.0, "style": 1.0, "tv": 0.0}, budget=10)
    for _ in range(10):
        monitor(np.array([5.0, 0.0, 5.0, 0.0]), np.zeros((1, 2, 2, 3), dtype=np.float32))
    assert monitor.evaluations == 10


def test_each_layers_final_loss_and_share_are_recorded_and_printed(tmp_path, capsys):
    output = tmp_path / "out.png"
    assert run_main(CONTENT, STYLE, output, "--weights", "none", "--size", "48", "--iterations", "4",
                    "--tv-weight", "1e-3", "--verbose", "--quiet") == 0
    report = json.loads(output.with_suffix(".json").read_text())
    layers = report["layer_losses"]
    settings = report["settings"]
    assert list(layers["style"]) == settings["style_layers"] and list(layers["content"]) == settings["content_layers"]
    final = report["losses"]["final"]
    assert sum(entry["loss"] for entry in layers["style"].values()) == pytest.approx(final["style"], rel=1e-5)
    assert sum(entry["loss"] for entry in layers["content"].values()) == pytest.approx(final["content"], rel=1e-5)
    shares = [entry["share"] for kind in ("content", "style", "tv") for entry in layers[kind].values()]
    assert sum(shares) == pytest.approx(1.0, rel=1e-4)  # the weighted parts make up the total
    printed = capsys.readouterr().out
    for layer in settings["style_layers"] + settings["content_layers"]:
        assert layer in printed
    assert "% of the total" in printed


def test_a_run_that_ends_before_its_budget_says_it_stalled(monkeypatch):
    """An optimiser that gives up early (scipy's line search failing, restarts included) is not 'budget'."""
    from keras_style.engine import optimize

    def gives_up_after_two(evaluator, image, settings):
        for _ in range(2):
            evaluator.loss(image.astype(np.float64).ravel())
        return image

    monkeypatch.setitem(optimize.MINIMIZERS, "lbfgs", gives_up_after_two)
    result = keras_style.stylize_result(CONTENT, STYLE, size=48, iterations=5, weights="none", precision="float32",
                                        optimizer="lbfgs")
    assert result.evaluations == 2 and result.stopped == "stalled"


def test_the_stopping_rule_runs_on_while_the_loss_falls_and_stops_soon_after_it_flattens():
    from keras_style.run.monitor import flattened

    def first_stop(curve, window=10, min_fall=0.02):
        best = np.minimum.accumulate(curve)
        return next((index for index in range(len(best)) if flattened(best[:index + 1], window, min_fall)), None)

    steps = np.arange(300)
    # falling 0.5 % per evaluation, 4.9 % per window of 10: never flat
    assert first_stop(1e12 * 0.995 ** steps) is None
    # falling 3 % per evaluation until a plateau at evaluation 120: stopped once the window lies on the plateau
    plateau = 1e12 * 0.97 ** np.minimum(steps, 120)
    stop = first_stop(plateau)
    assert stop == 130
    # the best so far, not the last value: worse trial points in between do not keep it running, nor stop it
    noisy = plateau.copy()
    noisy[3::7] *= 3.0
    assert first_stop(noisy) == stop
    # the window must fill first
    assert not flattened([5.0] * 10, 10, 0.5) and flattened([5.0] * 11, 10, 0.5)


def test_an_early_stop_gives_its_scales_unspent_evaluations_back_to_the_total():
    totals = []
    result = keras_style.stylize_result(CONTENT, STYLE, iterations=400, scales=2, scale_budget="equal",
                                        min_improvement=0.5, patience=2, callback=lambda event: totals.append(
                                            (event.evaluation, event.total)), **{**RANDOM, "size": 96})
    assert result.stopped == "converged" and len(result.scales) == 2
    # each of the two scales stopped early; the total shrank by what each left, and ends at the evaluations spent
    first_scale = result.scales[0]["evaluations"]
    assert first_scale < 200 and result.evaluations < 400
    assert {total for _, total in totals[:first_scale]} == {400}
    assert {total for _, total in totals[first_scale:]} == {400 - (200 - first_scale)}
    assert totals[-1][1] - (200 - result.scales[1]["evaluations"]) == result.evaluations


def test_a_coarser_scale_needs_a_fall_in_proportion_to_its_pixels():
    def evaluations_until_stopped(cost):
        monitor = Monitor(total=100, min_improvement=0.1, patience=3)
        monitor.start_scale(0, (2, 2), (), {"content": 1.0, "style": 1.0, "tv": 0.0}, budget=100, cost=cost)
        image = np.zeros((1, 2, 2, 3), dtype=np.float32)
        for count, loss in enumerate(100.0 * 0.98 ** np.arange(100), start=1):  # 5.9 % per 3 evaluations
            try:
                monitor(np.array([loss, 0.0, loss, 0.0]), image)
            except keras_style.errors.Converged:
                return count, monitor.total
        return None, monitor.total

    assert evaluations_until_stopped(1.0) == (4, 4)  # under 10 % at once: stopped, the rest given back
    assert evaluations_until_stopped(0.25) == (None, 100)  # at a quarter of the pixels, 5.9 % > 2.5 %: runs on


def test_the_progress_bar_ends_full_at_the_evaluations_an_early_stop_spent(tmp_path, capsys):
    output = tmp_path / "out.png"
    assert run_main(CONTENT, STYLE, output, "--weights", "none", "--size", "48", "--iterations", "400",
                    "--precision", "float32", "--seed", "0", "--min-improvement", "0.5", "--patience", "2") == 0
    report = json.loads(output.with_suffix(".json").read_text())
    spent = report["evaluations"]
    assert report["stopped"] == "converged" and spent < 400
    bar = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()
    last = [line for line in bar if "eval" in line][-1]
    assert f"{spent}/{spent} " in last and "100%" in last
