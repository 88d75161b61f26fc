"""Precision and XLA chosen per device, compiled steps shared by Evaluators, device optimiser steps compiled once."""
import json

import numpy as np
import pytest

from keras_style.config.settings import Settings
from keras_style.engine.backend import Device, choose_compute, read_cpu
from keras_style.engine.optimize import minimize
from keras_style.files.images import pixel_bounds
from keras_style.run.assemble import optimizer_spec, settings_evaluator
from keras_style.run.monitor import Monitor

from .conftest import ROOT, build

AMX_CPU = Device("cpu", "Intel Xeon", cpu_flags=frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}))
AVX512_BF16_CPU = Device("cpu", "AMD EPYC Genoa", cpu_flags=frozenset({"avx2", "avx512f", "avx512_bf16"}))
AVX2_CPU = Device("cpu", "AMD EPYC", cpu_flags=frozenset({"avx2", "fma"}))
HOPPER = Device("gpu", "NVIDIA H100", gpu_capability=(9, 0))
VOLTA = Device("gpu", "Tesla V100", gpu_capability=(7, 0))


RESULTS = ROOT / "benchmarks" / "results"
# Budgets the rule is checked at: a short run, the article's and the default preset's order, a long one.
BUDGETS = (10, 100, 300, 1000)


def measured(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def cpu_of(machine: str) -> Device:
    """A recorded machine line ('Intel(R) Xeon(R) Processor, 2 cores, flags: avx2 avx512_bf16 amx_bf16')."""
    flags = machine.split("flags:", 1)[1].replace(",", " ").split() if "flags:" in machine else []
    return Device("cpu", machine.split(",")[0], cpu_flags=frozenset(flags))


def fastest(rows: list[dict], evaluations: int) -> tuple[str, bool]:
    """The measured (precision, xla) that spends least on `evaluations`: the first evaluation (tracing, XLA's
    compilation) plus the rest at the steady rate; the steady rate alone where the first was not timed."""
    def spent(row: dict) -> float:
        first = row.get("first_evaluation_seconds") or row["seconds_per_evaluation"]
        return first + (evaluations - 1) * row["seconds_per_evaluation"]

    best = min(rows, key=spent)
    return best["precision"], best["xla"] in (True, "on")


def test_auto_picks_the_fastest_measured_precision_and_xla_on_a_cpu_with_bf16_units():
    """benchmarks/results/cpu_precision_xeon_amx.json: every precision x XLA, first evaluation and steady rate."""
    results = measured("cpu_precision_xeon_amx.json")
    device = cpu_of(results["machine"])
    assert device.has_bf16
    for size in {tuple(row["size"]) for row in results["rows"]}:
        rows = [row for row in results["rows"] if tuple(row["size"]) == size]
        assert len(rows) == 4
        for evaluations in BUDGETS:
            choice = choose_compute(device, "auto", None, pixels=size[0] * size[1], evaluations=evaluations)
            assert (choice.precision, choice.xla) == fastest(rows, evaluations), (size, evaluations)


def test_auto_picks_the_fastest_measured_xla_in_float32_on_a_cpu_without_bf16():
    """benchmarks/results/cpu_bench*.json: the AMD EPYC with AVX2 and no bfloat16 (RESULTS.md's early tables),
    float32 with XLA on and off per network, path and size, steady rate only: checked at the budgets where its
    compilation (tens of evaluations' worth) is paid back, the default preset's and longer."""
    default_budget = Settings.from_options().evaluation_budget
    for name in ("cpu_bench.json", "cpu_bench_quick.json"):
        results = measured(name)
        assert results["machine"]["cpu"] == "AMD EPYC"
        device = AVX2_CPU
        keys = {(row["network"], row["path"], row["size"]) for row in results["rows"]}
        for key in keys:
            rows = [row for row in results["rows"] if (row["network"], row["path"], row["size"]) == key]
            width, height = rows[0]["width"], rows[0]["height"]
            for evaluations in (default_budget, 1000):
                choice = choose_compute(device, "auto", None, pixels=width * height, evaluations=evaluations)
                assert (choice.precision, choice.xla) == fastest(rows, evaluations), (name, key, evaluations)


def test_auto_picks_the_fastest_measured_precision_on_a_hopper_gpu():
    """benchmarks/results/gpu_h100_bench*.json: float32 and mixed, both with XLA (the rule's GPU choice), per
    network, path and size measured in both."""
    rows = measured("gpu_h100_bench.json")["rows"] + measured("gpu_h100_bench_mixed.json")["rows"]
    compared = 0
    for key in {(row["network"], row["path"], row["size"]) for row in rows}:
        same = [row for row in rows if (row["network"], row["path"], row["size"]) == key]
        if {row["precision"] for row in same} != {"float32", "mixed"}:
            continue
        compared += 1
        choice = choose_compute(HOPPER, "auto", None, pixels=same[0]["width"] * same[0]["height"], evaluations=300)
        assert (choice.precision, choice.xla) == fastest(same, 300), key
    assert compared >= 2
    assert choose_compute(VOLTA).precision == "float32"  # no bfloat16 units before compute capability 8.0


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
    first = settings_evaluator(model, settings, content, style)
    first.evaluate(content)
    heavier = Settings.from_options(**{**settings.as_dict(), "style_weight": 7.0, "content_weight": 3.0})
    second = settings_evaluator(model, heavier, content, style)
    terms, _ = second.evaluate(content + 1.0)
    assert (first.traces, second.traces) == (1, 0)
    assert second.value_and_grad_step is first.value_and_grad_step
    # the shared step still uses each Evaluator's own weights
    assert terms[0] == pytest.approx(3.0 * terms[1] + 7.0 * terms[2] + settings.tv_weight * terms[3], rel=1e-5)


@pytest.mark.parametrize("optimizer", ["gd", "adam", "lbfgs-device"])
def test_device_steps_are_compiled_once_and_keep_the_image_on_the_device(fresh_compile_cache, optimizer):
    settings, content, style, model = build(size=(40, 40), init="noise", style_weight=1e3)
    settings = Settings.from_options(**{**settings.as_dict(), "optimizer": optimizer, "iterations": 15})
    monitor = Monitor(settings.evaluation_budget)
    on_host = []  # per evaluation: was the image the step handed over a host (numpy) array?

    def observer(terms, image):
        on_host.append(isinstance(image, np.ndarray))
        monitor(terms, image)

    evaluator = settings_evaluator(model, settings, content, style, observer=observer)
    start = np.random.default_rng(0).uniform(-100, 100, size=content.shape).astype(np.float32)
    result = minimize(evaluator, start, optimizer_spec(settings))
    # traces: the optimiser's step once (lbfgs-device's first evaluation is its step too)
    assert evaluator.traces == 1
    # the device steps are timed (the sidecar's first_pass_seconds and network_seconds, 0 before)
    assert evaluator.first_pass_seconds > 0 and evaluator.network_seconds > 0
    assert evaluator.passes == monitor.evaluations == 15
    # no step brought its image to the host: each evaluation's image, and the result, are device tensors
    assert on_host == [False] * 15 and not isinstance(result, np.ndarray)
    history = np.array(monitor.history)
    assert history[:, 0].min() < 0.75 * history[0, 0]
    low, high = pixel_bounds()
    image = np.asarray(result)
    assert (image >= low - 1e-3).all() and (image <= high + 1e-3).all()
    # the best image, kept on the device by reference and fetched once at the end, is the one that gave the best
    # loss (no later step changed it, and each step's terms are its own image's)
    assert evaluator.terms_at(monitor.best_image)[0] == pytest.approx(monitor.best_loss, rel=1e-4)


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
