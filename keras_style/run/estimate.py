"""How long a run will take on this machine, said before it starts (the web page's estimate).

An evaluation's cost grows with the pixels it sees: `Pace` is seconds per evaluation as fixed + per_pixel x pixels,
fitted to measured (pixels, seconds per evaluation) points. The points come from a short measuring run on this
machine (`measure_pace`: three small sizes, a few evaluations each) and from every finished run's scale records
(`record_points`), so the estimate follows the machine and the network actually used. A run's estimate adds up its
scales (plan.scale_plan: each size's evaluations at that size's pace), the traced first pass of each scale, and the
model's build when it is not built yet; an early stop (--min-improvement) spends a share of the budget that depends
on the picture, so the estimate is a range.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from keras_style.config.settings import Settings
from keras_style.files.images import target_size
from keras_style.run.memory import octave_share
from keras_style.run.plan import scale_plan

# With an early stop (--min-improvement), the share of its evaluations the output size spends before it stops, until
# this machine has seen a run finish: painterly at 512 px on the four shared pairs stopped there after 54-75 of 140
# (benchmarks/RESULTS.md, "A third of the time and less grain"). A coarser size, whose threshold is scaled down by its
# share of the pixels, spends more: measured 74 of 140 at half the pixels, 99 at a quarter, all 140 below; the share
# divided by the square root of the pixel share follows that (0.39 -> 0.55, 0.78, 1).
EARLY_STOP_SHARE = 0.4
# The range around the likely time: the stop depends on the picture; no run spends more than its budget, and the
# machine's speed varies (another job on the cores).
EARLY_STOP_RANGE = (0.75, 1.5)
FULL_BUDGET_RANGE = (0.85, 1.2)
# The measuring run: small sizes (longest side) and evaluations at each; the first evaluation of each size traces
# the step and is counted apart.
MEASURE_SCHEDULE = ((128, 5), (192, 5), (256, 5))


@dataclass(frozen=True)
class Pace:
    """Seconds per evaluation at a number of pixels, and the extra seconds of a scale's first (traced) pass."""

    fixed: float
    per_pixel: float
    first_pass: float = 0.0

    def seconds(self, pixels: int) -> float:
        return self.fixed + self.per_pixel * pixels


def fit_pace(points: Sequence[tuple[int, float]], first_pass: float = 0.0) -> Pace:
    """The least-squares line through (pixels, seconds per evaluation), its slope and intercept kept >= 0 (a single
    point, or points of one size: all per pixel)."""
    pixels = np.array([point[0] for point in points], dtype=np.float64)
    seconds = np.array([point[1] for point in points], dtype=np.float64)
    if len(points) == 0:
        raise ValueError("no measured points to fit a pace to")
    if len(set(pixels.tolist())) > 1:
        per_pixel, fixed = np.polyfit(pixels, seconds, 1)
        if per_pixel > 0 and fixed >= 0:
            return Pace(float(fixed), float(per_pixel), first_pass)
    per_pixel = float(np.sum(seconds * pixels) / np.sum(pixels * pixels))  # through the origin
    return Pace(0.0, max(per_pixel, 0.0), first_pass)


def record_points(scales: Iterable[dict[str, Any]]) -> tuple[list[tuple[int, float]], list[float]]:
    """From a result's scale records (StyleResult.scales): (pixels, seconds per evaluation after the first) of each
    untiled scale with at least two evaluations, and each one's first pass over that pace (its tracing)."""
    points, extra = [], []
    for scale in scales:
        evaluations = scale.get("evaluations", 0)
        if "tiles" in scale or evaluations < 2 or not scale.get("network_seconds"):
            continue
        width, height = scale["size"]
        pace = scale["network_seconds"] / (evaluations - 1)
        points.append((width * height, pace))
        extra.append(max(0.0, scale.get("first_pass_seconds", 0.0) - pace))
    return points, extra


@dataclass(frozen=True)
class Estimate:
    """A run's expected seconds: the likely time and a range, with what it assumed."""

    likely: float
    low: float
    high: float
    evaluations: int  # the budget
    sizes: tuple[tuple[int, int], ...]  # (width, height) per scale
    early_stop: bool
    full: float  # the seconds of the whole budget's evaluations, without the start-up

    def as_dict(self) -> dict[str, Any]:
        return {"likely": round(self.likely, 1), "low": round(self.low, 1), "high": round(self.high, 1),
                "evaluations": self.evaluations, "sizes": [list(size) for size in self.sizes],
                "early_stop": self.early_stop}


def estimate_run(settings: Settings, content_size: tuple[int, int], pace: Pace, startup_seconds: float = 0.0,
                 early_stop_share: float = EARLY_STOP_SHARE) -> Estimate:
    """The time a run of `settings` on a content of `content_size` (width, height) takes at `pace`, plus
    `startup_seconds` (the model's build, where it is not built yet). With an early stop, each size spends
    `early_stop_share` of its evaluations at the output size, more at a coarser one (EARLY_STOP_SHARE), and never
    fewer than its patience's window."""
    plan = [(target_size(*content_size, size, settings.resize), evaluations)
            for size, evaluations in scale_plan(settings)]
    output_pixels = plan[-1][0][0] * plan[-1][0][1]
    early_stop = bool(settings.min_improvement)
    full = likely = 0.0
    for (width, height), evaluations in plan:
        # the octaves of --stroke-scale are passes of their own pixels
        per_evaluation = pace.seconds(width * height * (1.0 + octave_share(settings, width, height)))
        full += evaluations * per_evaluation + pace.first_pass
        spent = evaluations
        if early_stop:
            share = min(1.0, early_stop_share / math.sqrt(width * height / output_pixels))
            spent = min(evaluations, max(settings.patience + 1, share * evaluations))
        likely += spent * per_evaluation + pace.first_pass
    low, high = EARLY_STOP_RANGE if early_stop else FULL_BUDGET_RANGE
    return Estimate(likely + startup_seconds, likely * low + startup_seconds,
                    min(likely * high, full * FULL_BUDGET_RANGE[1]) + startup_seconds,
                    settings.evaluation_budget, tuple(size for size, _ in plan), early_stop, full)


@dataclass(frozen=True)
class Measured:
    """A measuring run's (pixels, seconds per evaluation) points, the extra seconds of a scale's first pass, and the
    seconds its model's build took (0 when the model was already built in this process)."""

    points: tuple[tuple[int, float], ...]
    first_pass: float
    build_seconds: float

    @property
    def pace(self) -> Pace:
        return fit_pace(self.points, self.first_pass)


def measure_pace(settings: Settings, schedule: Sequence[tuple[int, int]] = MEASURE_SCHEDULE) -> Measured:
    """This machine's pace under `settings` (their network, precision, optimiser and weights), from a short run on
    synthetic pictures at the small sizes of `schedule`, with no early stop."""
    from keras_style.run.transfer import stylize_result

    picture = np.random.default_rng(0).integers(0, 256, size=(192, 256, 3), dtype=np.uint8)
    measured = replace(settings, min_improvement=0.0, seed=0, scales=len(schedule), size=schedule[-1][0])
    started = time.perf_counter()
    result = stylize_result(picture, picture[::-1], settings=measured, schedule=list(schedule))
    points, extra = record_points(result.scales)
    if not points:
        raise RuntimeError(f"the measuring run recorded no timed scale ({time.perf_counter() - started:.1f} s)")
    return Measured(tuple(points), float(np.median(extra)), result.startup.get("model_seconds", 0.0))


def stop_share(scales: Sequence[dict[str, Any]], settings: Settings) -> float | None:
    """The share of its evaluations a finished run's output size spent (the next estimates' early_stop_share): from
    its scale records against the plan's budget; None when it did not end at the output size."""
    budgets = [evaluations for _, evaluations in scale_plan(settings)]
    if not scales or len(scales) != len(budgets) or "evaluations" not in scales[-1]:
        return None
    return float(np.clip(scales[-1]["evaluations"] / budgets[-1], 0.05, 1.0))


def describe(estimate: Estimate) -> str:
    """The estimate in words, as the page shows it."""
    sizes = estimate.sizes
    where = f"{sizes[-1][0]}x{sizes[-1][1]} px" + (f" in {len(sizes)} sizes" if len(sizes) > 1 else "")
    stop = ", stopping early when the picture stops changing" if estimate.early_stop else ""
    return (f"about {duration(estimate.likely)} on this machine ({duration(estimate.low)} to "
            f"{duration(estimate.high)}): {estimate.evaluations} evaluations at most, {where}{stop}")


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
