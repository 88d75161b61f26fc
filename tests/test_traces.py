"""Each compiled step is traced once per input shape (the feature step once for every shape), with TensorFlow's
frequent-retracing warning never printed over a multi-scale run; the device optimisers time their passes."""
import logging

import pytest

import keras_style
from keras_style.config.settings import Settings
from keras_style.engine import backend
from keras_style.engine.optimize import minimize
from keras_style.run.assemble import optimizer_spec, settings_evaluator

from .conftest import CONTENT, STYLE, build

# random weights and float32, XLA off: every scale compiles the same way whatever its size
RANDOM = dict(weights="none", precision="float32", jit_compile=False, seed=0)
# two shallow layers (a network cut after block 2): the tracing is what is tested, not VGG19's cost
SHALLOW = dict(style_layers=["conv1_1", "conv2_1"], content_layers=["conv2_2"])


def traced_during(run) -> dict:
    """{step name: traces} that `run()` caused (only the steps that traced)."""
    before = dict(backend.TRACE_COUNTS)
    run()
    return {name: count - before.get(name, 0) for name, count in backend.TRACE_COUNTS.items()
            if count != before.get(name, 0)}


@pytest.mark.parametrize("optimizer, options, step", [
    # (lbfgs-device's counts: test_a_five_scale_run_prints_no_retracing_warning)
    # the average's last evaluation is one pass per scale: untraced
    ("adam", {"average_iterates": 0.9}, "adam"),
])
def test_a_three_scale_run_traces_each_step_once_per_shape(fresh_compile_cache, optimizer, options, step):
    # 136 px (68, 96 and 136 px scales): a size no other test uses
    result = []
    traces = traced_during(lambda: result.append(keras_style.stylize_result(
        CONTENT, STYLE, size=136, iterations=12, scales=3, optimizer=optimizer, **options, **SHALLOW, **RANDOM)))
    result = result[0]
    sizes = [tuple(record["size"]) for record in result.scales]
    assert len(set(sizes)) == 3
    # the optimiser's step once per scale; the feature step (content and style at each scale: six shapes) once in
    # all; no loss-and-gradient step traced for a single call
    assert traces == {step: 3, "features": 1}
    assert result.traces == 3


def test_adam_traces_nothing_on_a_second_call_at_one_shape(fresh_compile_cache):
    settings, content, style, model = build(size=(52, 36), init="noise", style_weight=1e3)
    settings = Settings.from_options(**{**settings.as_dict(), "optimizer": "adam", "iterations": 4})
    evaluators = [settings_evaluator(model, settings, content, style) for _ in range(2)]
    traces = [traced_during(lambda evaluator=evaluator: minimize(evaluator, content, optimizer_spec(settings)))
              for evaluator in evaluators]
    assert traces == [{"adam": 1}, {}]
    assert [evaluator.traces for evaluator in evaluators] == [1, 0]


class Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_five_scale_run_prints_no_retracing_warning(fresh_compile_cache):
    # TensorFlow's warning goes to its Python logger ("tensorflow"), which need not propagate to pytest's handler
    import tensorflow as tf  # noqa: F401  (its logger exists once it is imported)

    logger = logging.getLogger("tensorflow")
    recorded = Recorded()
    logger.addHandler(recorded)
    results = []
    try:
        # 4 evaluations a scale: TensorFlow warns when 5 of one function's last 10 calls traced; the L-BFGS step is
        # traced once per scale, and no step may trace more often than once per shape
        traces = traced_during(lambda: results.append(keras_style.stylize_result(
            CONTENT, STYLE, size=256, iterations=20, scales=5, optimizer="lbfgs-device", scale_budget="equal",
            **SHALLOW, **RANDOM)))
    finally:
        logger.removeHandler(recorded)
    result = results[0]
    assert len({tuple(record["size"]) for record in result.scales}) == 5
    # the L-BFGS step once per scale (its first evaluation is a step too: no loss-and-gradient step traced for a
    # single call); the feature step (content and style at each scale: ten shapes) once in all
    assert traces == {"lbfgs": 5, "features": 1} and result.traces == 5
    assert not [message for message in recorded.messages if "retracing" in message], recorded.messages


@pytest.mark.parametrize("optimizer", ["lbfgs-device"])  # gd's and adam's: test_compute's device-step test
def test_device_optimisers_record_their_first_pass_and_network_seconds(optimizer):
    result = keras_style.stylize_result(CONTENT, STYLE, size=48, iterations=8, scales=1, optimizer=optimizer,
                                        **RANDOM)
    record = result.scales[-1]
    assert record["first_pass_seconds"] > 0 and record["network_seconds"] > 0
    # the passes' time is within the scale's
    assert record["first_pass_seconds"] + record["network_seconds"] <= record["seconds"] + 1e-3
