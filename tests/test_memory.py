"""The memory estimate that guards a run, and an oversize request refused early from Python and the command line."""
import pytest

from keras_style.config.settings import Settings
from keras_style.errors import UserError
from keras_style.run.memory import (
    MEMORY_LIMIT_VARIABLE,
    SAFETY_MARGIN,
    _network_bytes,
    activation_floats_per_pixel,
    check_memory,
    estimate_bytes,
)

from .conftest import CONTENT, STYLE, run_cli


def test_memory_estimate_grows_linearly_with_pixels():
    settings = Settings.from_options(preset="gatys")
    small, large = estimate_bytes(settings, 512, 384), estimate_bytes(settings, 1024, 768)
    huge = estimate_bytes(settings, 2048, 1536)
    assert (huge - large) == pytest.approx(4 * (large - small), rel=1e-9)
    concat = estimate_bytes(Settings.from_options(preset="gatys", mode="concat"), 1024, 768)
    assert concat > 2.5 * (large - estimate_bytes(settings, 1, 1))
    # VGG19 up to conv5_1: 64*2 + 64/4 + 128*2/4 + 128/16 + 256*4/16 + 256/64 + 512*4/64 + 512/256 + 512/256
    assert activation_floats_per_pixel("vgg19", "block5_conv1") == pytest.approx(320.0)
    # above the peak RSS of the whole 2048 px command-line run measured for benchmarks/RESULTS.md (14,895,012 KB)
    assert huge > 14_895_012 * 1024


def test_oversize_request_fails_early(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, "2000")
    with pytest.raises(UserError, match=r"needs about \d+\.\d GB but 2\.0 GB is available"):
        check_memory(Settings.from_options(), 2048, 1536)
    check_memory(Settings.from_options(), 256, 192)  # fits


def test_oversize_request_from_the_command_line(tmp_path):
    output = tmp_path / "out.png"
    result = run_cli(CONTENT, STYLE, output, "--size", "40000")
    assert result.returncode == 2 and "needs about" in result.stderr and "GB" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not output.exists()


def test_the_memory_estimate_counts_the_octaves_passes():
    """--stroke-scale adds a pass per matched octave, held for the backward pass: a quarter, a sixteenth, a 64th of
    the image's activations at 2048 px down to 256 (all), only the 64th for the coarsest octave."""
    plain = Settings.from_options(preset="painterly", stroke_scale="off")
    network = _network_bytes(plain, 2048 * 1536)
    base = estimate_bytes(plain, 2048, 1536)
    for which, share in (("all", 1 / 4 + 1 / 16 + 1 / 64), ("coarsest", 1 / 64)):
        settings = Settings.from_options(preset="painterly", stroke_scale=256, stroke_octaves=which)
        assert estimate_bytes(settings, 2048, 1536) - base == pytest.approx(SAFETY_MARGIN * share * network)
    assert estimate_bytes(Settings.from_options(preset="painterly"), 256, 192) == pytest.approx(
        estimate_bytes(plain, 256, 192))  # no octave below a 256-px image (the default's --stroke-scale 256)
