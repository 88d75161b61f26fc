"""Settings that must have an effect, and the evaluations a run spends: counted, and recorded as spent."""
import json
import re
import signal

import numpy as np
import pytest
from PIL import Image

import keras_style
from keras_style.apps import cli
from keras_style.config.settings import Settings
from keras_style.engine.optimize import minimize
from keras_style.run.assemble import optimizer_spec, settings_evaluator
from keras_style.run.monitor import Monitor, Progress

from .conftest import CONTENT, STYLE, build

RANDOM = dict(weights="none", size=48, precision="float32", seed=0)


def run_main(*arguments: str) -> int:
    """cli.main in this process, with pytest's signal handlers put back afterwards."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return cli.main([str(argument) for argument in arguments])
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def test_lr_decay_changes_the_steps():
    plain = keras_style.stylize_result(CONTENT, STYLE, optimizer="gd", iterations=6, **RANDOM)
    decayed = keras_style.stylize_result(CONTENT, STYLE, optimizer="gd", iterations=6, lr_decay=0.1,
                                         lr_decay_steps=1, **RANDOM)
    # the same first step, then steps ten times smaller each time: the image moves much less from the first one
    assert plain.history[1, 0] == pytest.approx(decayed.history[1, 0], rel=1e-6)
    start = plain.history[0, 0]
    assert abs(decayed.history[-1, 0] - decayed.history[1, 0]) < 0.2 * abs(plain.history[-1, 0] - plain.history[1, 0])
    assert decayed.history[-1, 0] != plain.history[-1, 0] and start == decayed.history[0, 0]


def test_init_file_from_the_command_line_starts_from_that_image(tmp_path):
    start = tmp_path / "start.png"
    Image.new("RGB", (48, 36), (255, 0, 0)).save(start)
    outputs = {}
    for init in ("content", str(start)):
        output = tmp_path / f"out_{len(outputs)}.png"
        assert run_main(CONTENT, STYLE, output, "--weights", "none", "--size", "48", "--iterations", "2",
                        "--init", init, "--quiet") == 0
        outputs[init] = json.loads(output.with_suffix(".json").read_text())
    # from the content the content loss starts at 0; from a red picture it does not
    assert outputs["content"]["losses"]["initial"]["content"] == 0.0
    assert outputs[str(start)]["losses"]["initial"]["content"] > 0.0
    assert outputs[str(start)]["settings"]["init"] == str(start)


def test_a_bad_init_file_is_one_line_and_exit_2(tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    output = tmp_path / "out.png"
    assert run_main(CONTENT, STYLE, output, "--weights", "none", "--size", "48", "--init", broken) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--init image" in error[0] and "broken.png" in error[0]
    assert not output.exists()


@pytest.mark.parametrize("optimizer", ["gd", "adam", "lbfgs-device"])
def test_device_optimisers_spend_exactly_their_budget(optimizer):
    result = keras_style.stylize_result(CONTENT, STYLE, optimizer=optimizer, iterations=7, **RANDOM)
    assert result.evaluations == 7 == len(result.history)


def test_scipy_spends_exactly_its_budget_and_the_sidecar_records_it(tmp_path):
    output = tmp_path / "out.png"
    # --optimizer lbfgs: auto may choose a device optimiser
    assert run_main(CONTENT, STYLE, output, "--weights", "none", "--size", "48", "--iterations", "7",
                    "--optimizer", "lbfgs", "--quiet") == 0
    report = json.loads(output.with_suffix(".json").read_text())
    # the budget guard ends scipy's last line search at the budget (here it would otherwise finish at 8)
    assert report["evaluation_budget"] == 7 == report["evaluations"]


def test_the_articles_restart_loop_spends_at_most_outer_times_maxfun_and_records_every_evaluation():
    events = []
    result = keras_style.stylize_result(CONTENT, STYLE, outer_iterations=3, maxfun=4, callback=events.append,
                                        **RANDOM)
    assert result.settings.evaluation_budget == 12
    # each restart may end early by scipy's own tolerances, never past its maxfun
    assert 3 <= result.evaluations <= 12
    assert result.evaluations == len(events) == len(result.history)  # spent, counted, all recorded
    assert all(event.evaluation <= event.total == 12 for event in events)


def _budget_run(optimizer: str, budget: int, **options):
    """(evaluator, monitor) after minimize over a tiny random-weights model with `budget` evaluations."""
    settings, content, style, model = build(init="noise", style_weight=1e3, size=(32, 32))
    settings = Settings.from_options(**{**settings.as_dict(), "optimizer": optimizer, "iterations": budget,
                                        **options})
    monitor = Monitor(settings.evaluation_budget)
    evaluator = settings_evaluator(model, settings, content, style, observer=monitor)
    start = np.random.default_rng(0).uniform(-100, 100, size=content.shape).astype(np.float32)
    minimize(evaluator, start, optimizer_spec(settings))
    return evaluator, monitor


@pytest.mark.parametrize("budget", [1, 5, 6])
@pytest.mark.parametrize("optimizer", ["lbfgs", "lbfgs-device", "adam", "gd"])
def test_no_optimiser_spends_past_its_budget(optimizer, budget):
    evaluator, monitor = _budget_run(optimizer, budget)
    assert monitor.evaluations == evaluator.passes  # every pass observed
    if optimizer == "lbfgs":
        # scipy's L-BFGS-B may stop short (a line search that fails twice in a row), never past the budget
        assert 1 <= evaluator.passes <= budget
    else:
        assert evaluator.passes == budget


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_averaged_iterates_spend_exactly_their_budget(optimizer):
    evaluator, monitor = _budget_run(optimizer, 5, average_iterates=0.5)
    assert monitor.evaluations == evaluator.passes == 5


def test_each_restart_of_the_articles_loop_spends_at_most_its_maxfun():
    per_restart = []
    from keras_style.engine import optimize

    run = optimize._lbfgs_run

    def counted(evaluator, *args, **options):
        before = evaluator.passes
        result = run(evaluator, *args, **options)
        per_restart.append(evaluator.passes - before)
        return result

    optimize._lbfgs_run = counted
    try:
        evaluator, monitor = _budget_run("lbfgs", None, outer_iterations=2, maxfun=3)
    finally:
        optimize._lbfgs_run = run
    assert len(per_restart) == 2 and all(1 <= spent <= 3 for spent in per_restart)
    assert monitor.evaluations == evaluator.passes == sum(per_restart) <= 6


def _event(evaluation: int, total: int) -> Progress:
    return Progress(evaluation=evaluation, total=total, scale=0, size=(32, 32), terms={"total": 1.0},
                    style_layers={}, content_layers={}, elapsed=0.0, best_image=lambda: None)


def test_the_progress_bar_shows_each_event_and_never_passes_its_total():
    from keras_style.apps.callbacks import ProgressBar

    # two scales of 6 and 4: the first stops early after 4 evaluations and gives its 2 unspent ones back
    events = [_event(n, 10) for n in range(1, 5)] + [_event(n, 8) for n in range(5, 9)]
    bar = ProgressBar(10)
    try:
        for event in events:
            bar(event)
            assert (bar.bar.n, bar.bar.total) == (event.evaluation, event.total)
            assert bar.bar.n <= bar.bar.total
    finally:
        bar.close(finished=True)
    assert bar.bar.n == bar.bar.total == 8
    # an early stop of the whole run: the bar ends full at what was spent
    bar = ProgressBar(10)
    for event in events[:3]:
        bar(event)
    bar.close(finished=True)
    assert bar.bar.n == bar.bar.total == 3


def test_a_scipy_run_never_shows_more_evaluations_than_its_total_on_the_bar_or_the_page():
    from keras_style.apps.callbacks import ProgressBar
    from keras_style.apps.web.page import progress_html
    from keras_style.apps.web.runs import Snapshot

    bar = ProgressBar(5)
    shown = []

    def page_and_bar(event: Progress) -> None:
        html = progress_html(Snapshot(state="running", evaluation=event.evaluation, total=event.total))
        evaluation, total = map(int, re.search(r"(\d+) / (\d+) evaluations", html).groups())
        shown.append((evaluation, total, bar.bar.n, bar.bar.total))

    try:
        keras_style.stylize_result(CONTENT, STYLE, optimizer="lbfgs", iterations=5, callback=[bar, page_and_bar],
                                   **RANDOM)
    finally:
        bar.close()
    # scipy's last line search would have run a pass or more past the 5 (the bar then grew to 6 / 6)
    assert shown[-1] == (5, 5, 5, 5)
    assert all(evaluation <= total == 5 and bar_n <= bar_total == 5 for evaluation, total, bar_n, bar_total in shown)
