"""The web page's estimate of a run's time (keras_style.run.estimate): the pace fitted to measured points, a run's
scales added up, the early stop's range, and what a finished run's records teach it."""
from __future__ import annotations

import pytest

from keras_style.config.settings import Settings
from keras_style.run.estimate import (
    EARLY_STOP_SHARE,
    Pace,
    describe,
    estimate_run,
    fit_pace,
    record_points,
    stop_share,
)


def test_the_pace_is_the_line_through_the_measured_points():
    pace = fit_pace([(10_000, 0.02 + 1e-6 * 10_000), (40_000, 0.02 + 1e-6 * 40_000), (90_000, 0.02 + 1e-6 * 90_000)])
    assert pace.fixed == pytest.approx(0.02) and pace.per_pixel == pytest.approx(1e-6)
    assert pace.seconds(250_000) == pytest.approx(0.27)
    # one size only, or a line that would go negative: through the origin
    assert fit_pace([(10_000, 0.5)]).seconds(20_000) == pytest.approx(1.0)
    assert fit_pace([(10_000, 0.5), (20_000, 0.4)]).fixed == 0.0
    with pytest.raises(ValueError):
        fit_pace([])


def test_a_runs_estimate_adds_up_its_scales_and_ranges_an_early_stop():
    pace = Pace(fixed=0.0, per_pixel=1e-6, first_pass=0.5)
    full = Settings.from_options(preset="gatys", size=400, iterations=100)  # one scale, no early stop
    estimate = estimate_run(full, (800, 600), pace, startup_seconds=3.0)
    assert estimate.sizes == ((400, 300),) and estimate.evaluations == 100 and not estimate.early_stop
    assert estimate.likely == pytest.approx(100 * 0.12 + 0.5 + 3.0)
    assert estimate.low < estimate.likely < estimate.high
    for which, share in (("all", 1 / 4 + 1 / 16), ("coarsest", 1 / 16)):  # octaves of 200 and 100 px, or 100 alone
        octaves = Settings.from_options(preset="gatys", size=400, iterations=100, stroke_scale=100,
                                        stroke_octaves=which)
        assert estimate_run(octaves, (800, 600), pace).likely == pytest.approx(100 * 0.12 * (1 + share) + 0.5)
    painterly = Settings.from_options(preset="painterly", size=512, iterations=700, stroke_scale="off")
    stopped = estimate_run(painterly, (800, 600), pace)
    assert stopped.early_stop and len(stopped.sizes) == 5 and stopped.sizes[-1] == (512, 384)
    every = sum(140 * width * height * 1e-6 + 0.5 for width, height in stopped.sizes)
    assert stopped.full == pytest.approx(every)
    # the output size spends EARLY_STOP_SHARE of its 140, a size of half its pixels more, the coarsest all
    output = 512 * 384
    shares = [min(1.0, EARLY_STOP_SHARE / (width * height / output) ** 0.5) for width, height in stopped.sizes]
    assert shares[-1] == pytest.approx(EARLY_STOP_SHARE) and shares[0] == 1.0
    expected = sum(share * 140 * width * height * 1e-6 + 0.5
                   for share, (width, height) in zip(shares, stopped.sizes))
    assert stopped.likely == pytest.approx(expected) and stopped.likely < 0.7 * every
    assert stopped.low < stopped.likely < stopped.high <= 1.2 * every  # never more than the whole budget
    # a budget within the early stop's window is spent whole
    short = estimate_run(Settings.from_options(preset="painterly", size=512, iterations=40, stroke_scale="off"),
                         (800, 600), pace)
    assert short.likely == pytest.approx(short.full)
    assert describe(stopped).startswith("about ") and "700 evaluations at most, 512x384 px in 5 sizes" in \
        describe(stopped)


def test_a_finished_run_teaches_its_pace_and_its_share():
    scales = [{"size": [100, 100], "evaluations": 11, "network_seconds": 1.0, "first_pass_seconds": 0.6},
              {"size": [200, 100], "evaluations": 1, "network_seconds": 0.0},  # nothing timed after the first
              {"size": [400, 300], "evaluations": 5, "network_seconds": 2.0, "tiles": {}}]  # tiled: not a pace
    points, extra = record_points(scales)
    assert points == [(10_000, pytest.approx(0.1))] and extra == [pytest.approx(0.5)]
    painterly = Settings.from_options(preset="painterly", size=512, iterations=700)
    records = [{"size": [64, 48], "evaluations": 140}] * 4 + [{"size": [512, 384], "evaluations": 56}]
    assert stop_share(records, painterly) == pytest.approx(0.4)
    assert stop_share(records[:3], painterly) is None  # an interrupted run that ended at a coarse size


def test_the_measuring_run_times_each_small_size(tmp_path):
    from keras_style.run.estimate import MEASURE_SCHEDULE, measure_pace

    settings = Settings.from_options(preset="painterly", weights="none", precision="float32", size=512)
    measured = measure_pace(settings, schedule=((64, 3), (96, 3)))
    assert [pixels for pixels, _ in measured.points] == [64 * 48, 96 * 72]
    assert all(seconds > 0 for _, seconds in measured.points) and measured.first_pass >= 0
    assert measured.pace.seconds(96 * 72) > 0 and MEASURE_SCHEDULE[-1][0] <= 256
