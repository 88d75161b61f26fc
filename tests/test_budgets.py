"""Settings that must have an effect, and the evaluations a run spends: counted, and recorded as spent."""
import json
import signal

import pytest
from PIL import Image

import keras_style
from keras_style.apps import cli

from .conftest import CONTENT, STYLE

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


def test_scipy_spends_its_budget_and_may_overshoot_it_by_its_line_search(tmp_path):
    output = tmp_path / "out.png"
    assert run_main(CONTENT, STYLE, output, "--weights", "none", "--size", "48", "--iterations", "7", "--quiet") == 0
    report = json.loads(output.with_suffix(".json").read_text())
    assert report["evaluation_budget"] == 7
    # fmin_l_bfgs_b checks maxfun between iterations: the last line search may run past it, and the sidecar
    # records what was spent
    assert 7 <= report["evaluations"] <= 7 + 5


def test_the_articles_restart_loop_spends_outer_times_maxfun_and_records_every_evaluation():
    events = []
    result = keras_style.stylize_result(CONTENT, STYLE, outer_iterations=3, maxfun=4, callback=events.append,
                                        **RANDOM)
    assert result.settings.evaluation_budget == 12
    assert 12 <= result.evaluations <= 3 * (4 + 5)
    assert result.evaluations == len(events) == len(result.history)  # spent, counted, all recorded
