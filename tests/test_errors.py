"""Errors that tell the truth: overflowing losses, and Ctrl-C before the first evaluation."""
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import keras_style
from keras_style.errors import Interrupted, UserError
from keras_style.run.monitor import Monitor

from .conftest import CONTENT, STYLE
from .test_budgets import run_main

RANDOM = dict(weights="none", size=48, precision="float32")


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_weight_beyond_float32_is_refused_before_the_run(tmp_path):
    output = tmp_path / "out.png"
    result = subprocess.run([sys.executable, "-m", "keras_style", str(CONTENT), str(STYLE), str(output),
                             "--style-weight", "1e39", "--weights", "none"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert "--style-weight 1e+39 is beyond float32's range" in one_line(result.stderr)
    assert not output.exists() and not output.with_suffix(".json").exists()


def test_a_loss_that_overflows_at_the_first_evaluation_names_the_weight():
    with pytest.raises(UserError, match=r"the style loss .* times --style-weight \(1e\+37\) overflows float32; "
                                        r"lower --style-weight"):
        keras_style.stylize_result(CONTENT, STYLE, preset="gatys", iterations=3, style_weight=1e37, **RANDOM)


def test_the_command_line_reports_an_overflowing_loss_in_one_line(tmp_path, capfd):
    """cli.main in this process (TensorFlow is loaded: its start-up output is test_cli's weights-file case); capfd
    also catches what TensorFlow's C++ side would write to file descriptor 2."""
    output = tmp_path / "out.png"
    status = run_main(CONTENT, STYLE, output, "--preset", "gatys", "--style-weight", "1e37", "--weights", "none",
                      "--size", "48", "--iterations", "2")
    assert status == 2 and "overflows float32" in one_line(capfd.readouterr().err)
    assert not output.exists() and not output.with_suffix(".json").exists()


def test_a_loss_that_becomes_non_finite_later_keeps_the_best_finite_image():
    monitor = Monitor(total=3)
    monitor.start_scale(0, (2, 2), (), {"content": 1.0, "style": 1.0, "tv": 0.0})
    good = np.full((1, 2, 2, 3), 7.0, dtype=np.float32)
    monitor(np.array([5.0, 1.0, 4.0, 0.0]), good)
    monitor(np.array([np.inf, 1.0, np.inf, 0.0]), np.zeros_like(good))
    assert monitor.non_finite == 1 and monitor.best_loss == 5.0
    np.testing.assert_array_equal(monitor.best_image, good)


def test_a_stop_at_the_first_evaluation_keeps_nothing():
    # the first evaluation is of the starting image: stopping there (Ctrl-C during start-up) has nothing to keep
    with pytest.raises(Interrupted):
        keras_style.stylize_result(CONTENT, STYLE, iterations=5, callback=lambda event: True, **RANDOM)


@pytest.mark.processes  # a signal to a starting command's process
def test_ctrl_c_during_start_up_writes_nothing(tmp_path):
    output = tmp_path / "out.png"
    process = subprocess.Popen([sys.executable, "-m", "keras_style", str(CONTENT), str(STYLE), str(output),
                                "--weights", "none", "--size", "48", "--iterations", "50", "--quiet",
                                "--style-layers", "conv1_1", "--content-layers", "conv1_2"],  # a quick first step
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # TensorFlow is still loading: well before the first evaluation
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130
    assert "interrupted" in one_line(stderr) and "nothing written" in stderr
    assert not output.exists() and not output.with_suffix(".json").exists()


def test_the_sidecar_says_how_many_evaluations_overflowed(tmp_path):
    from keras_style.files.outputs import sidecar

    result = keras_style.stylize_result(CONTENT, STYLE, iterations=3, **RANDOM)
    assert sidecar(result, tmp_path / "out.png")["non_finite_evaluations"] == 0 == result.non_finite_evaluations
