"""Precision and XLA chosen per device, compiled steps shared by Evaluators, device optimiser steps compiled once."""
import numpy as np
import pytest

from keras_style.config.settings import Settings
from keras_style.engine.backend import Device, choose_compute, read_cpu, xla_pays_on_cpu
from keras_style.engine.optimize import minimize
from keras_style.files.images import pixel_bounds
from keras_style.run.assemble import evaluator_for, optimizer_spec
from keras_style.run.monitor import Monitor

from .conftest import build

AMX_CPU = Device("cpu", "Intel Xeon", cpu_flags=frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}))
AVX512_BF16_CPU = Device("cpu", "AMD EPYC Genoa", cpu_flags=frozenset({"avx2", "avx512f", "avx512_bf16"}))
AVX2_CPU = Device("cpu", "AMD EPYC", cpu_flags=frozenset({"avx2", "fma"}))
HOPPER = Device("gpu", "NVIDIA H100", gpu_capability=(9, 0))
VOLTA = Device("gpu", "Tesla V100", gpu_capability=(7, 0))


@pytest.mark.parametrize("device", [AMX_CPU, AVX512_BF16_CPU], ids=["amx", "avx512-bf16"])
def test_auto_picks_bfloat16_without_xla_on_a_cpu_with_bf16_units(device):
    choice = choose_compute(device, "auto", None, pixels=512 * 384, evaluations=500)
    assert (choice.precision, choice.xla) == ("mixed", False)
    assert "bfloat16" in choice.reason and "XLA off" in choice.reason


def test_auto_picks_float32_on_a_cpu_without_bf16_and_xla_only_when_it_pays():
    long_run = choose_compute(AVX2_CPU, "auto", None, pixels=512 * 384, evaluations=500)
    short_run = choose_compute(AVX2_CPU, "auto", None, pixels=64 * 48, evaluations=10)
    assert (long_run.precision, long_run.xla) == ("float32", True)
    assert (short_run.precision, short_run.xla) == ("float32", False)
    assert "no bfloat16 units" in short_run.reason and "would not pay" in short_run.reason
    # the break-even grows with fewer pixels: the same budget pays at 512 px and not at 64 px
    assert xla_pays_on_cpu(512 * 384, 100) and not xla_pays_on_cpu(64 * 48, 100)


def test_auto_on_gpus_follows_their_bf16_units():
    assert (choose_compute(HOPPER).precision, choose_compute(HOPPER).xla) == ("mixed", True)
    assert (choose_compute(VOLTA).precision, choose_compute(VOLTA).xla) == ("float32", True)
    assert "compute capability 9.0" in choose_compute(HOPPER).reason


def test_explicit_settings_win_over_the_rule():
    choice = choose_compute(AMX_CPU, "float32", True, pixels=64 * 48, evaluations=10)
    assert (choice.precision, choice.xla) == ("float32", True) and "as asked" in choice.reason


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 amx_bf16\n\n"
                       "processor\t: 1\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 amx_bf16\n")
    assert read_cpu(str(cpuinfo)) == ("Test CPU", frozenset({"fpu", "avx2", "amx_bf16"}))
    assert read_cpu(str(tmp_path / "missing")) == ("", frozenset())


def test_one_compilation_per_shape_over_two_evaluators():
    # a shape no other test uses, so the first Evaluator really traces
    settings, content, style, model = build(size=(44, 36))
    first = evaluator_for(model, settings, content, style)
    first.evaluate(content)
    heavier = Settings.from_options(**{**settings.as_dict(), "style_weight": 7.0, "content_weight": 3.0})
    second = evaluator_for(model, heavier, content, style)
    terms, _ = second.evaluate(content + 1.0)
    assert (first.traces, second.traces) == (1, 0)
    assert second.value_and_grad_step is first.value_and_grad_step
    # the shared step still uses each Evaluator's own weights
    assert terms[0] == pytest.approx(3.0 * terms[1] + 7.0 * terms[2] + settings.tv_weight * terms[3], rel=1e-5)


@pytest.mark.parametrize("optimizer", ["gd", "adam", "lbfgs-device"])
def test_device_steps_are_compiled_once_and_keep_the_image_on_the_device(optimizer):
    settings, content, style, model = build(size=(40, 40), init="noise", style_weight=1e3)
    settings = Settings.from_options(**{**settings.as_dict(), "optimizer": optimizer, "iterations": 15})
    monitor = Monitor(settings.evaluation_budget)
    evaluator = evaluator_for(model, settings, content, style, observer=monitor)
    start = np.random.default_rng(0).uniform(-100, 100, size=content.shape).astype(np.float32)
    result = minimize(evaluator, start, optimizer_spec(settings))
    # traces: the optimiser step once (lbfgs-device also traces its first loss-and-gradient evaluation)
    assert evaluator.traces <= (2 if optimizer == "lbfgs-device" else 1)
    assert evaluator.passes == monitor.evaluations == 15
    assert not isinstance(result, np.ndarray)  # the loop's image stayed a device tensor
    history = np.array(monitor.history)
    assert history[:, 0].min() < 0.75 * history[0, 0]
    low, high = pixel_bounds()
    image = np.asarray(result)
    assert (image >= low - 1e-3).all() and (image <= high + 1e-3).all()
    assert monitor.best_image.shape == content.shape and isinstance(monitor.best_image, np.ndarray)


def test_bfloat16_units_without_onednn_compute_in_float32_and_say_why(monkeypatch):
    from dataclasses import replace

    from keras_style.engine import backend

    off = choose_compute(replace(AMX_CPU, onednn=False), "auto")
    assert off.precision == "float32" and "oneDNN is off" in off.reason
    assert choose_compute(AMX_CPU, "auto").precision == "mixed"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert backend.onednn_enabled() is False
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    assert backend.onednn_enabled() is True
