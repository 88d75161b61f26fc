"""How much memory a run needs, estimated from the layer shapes before anything is allocated, and the guard that
refuses a size that does not fit or picks the tile size that does (--tile-size).

Calibrated on the CPU benchmark (benchmarks/RESULTS.md): peak RSS grows by about 3x the forward activations of
the layers a run uses (the forward values kept for the backward pass, the gradients, and the allocator's slack).
"""
from __future__ import annotations

import os

from keras_style.config.choices import MODES
from keras_style.config.layers import CONVS_PER_BLOCK
from keras_style.config.settings import MIN_TILE_SIZE, Settings
from keras_style.engine.spec import octave_levels
from keras_style.errors import UserError
from keras_style.run.limits import cgroup_memory_available
from keras_style.run.plan import ALIGN, TILE_CONTEXT

BYTES_PER_FLOAT = 4
ACTIVATION_FACTOR = 3.0  # measured: 3.6 KB per pixel for VGG19 to block5_conv1 against 1.3 KB of activations
RUNTIME_BYTES = 900 * 2**20  # TensorFlow, Keras and the model's weights
MEMORY_LIMIT_VARIABLE = "KERAS_STYLE_MEMORY_LIMIT_MB"
# A whole 2048 px VGG19 L-BFGS run peaked 3 % above the unmargined estimate (RESULTS.md): keep the guard above it.
SAFETY_MARGIN = 1.1


def activation_floats_per_pixel(network: str, deepest: str) -> float:
    """Floats that every conv and pool output up to `deepest` holds per input pixel."""
    floats = 0.0
    for block, count in enumerate(CONVS_PER_BLOCK[network], start=1):
        channels = min(64 * 2 ** (block - 1), 512)
        area = 4.0 ** (block - 1)
        for conv in range(1, count + 1):
            floats += channels / area
            if f"block{block}_conv{conv}" == deepest:
                return floats
        floats += channels / (area * 4)  # the pooling output
    return floats


def _network_bytes(settings: Settings, pixels: int, factor: float = ACTIVATION_FACTOR) -> float:
    batch = MODES[settings.mode].images_per_evaluation
    activations = activation_floats_per_pixel(settings.network, settings.deepest_layer) * BYTES_PER_FLOAT
    return factor * activations * pixels * batch


# Image-sized vectors an optimiser keeps beside its history: scipy's L-BFGS-B (float64: x, gradient, bounds and
# work arrays), and the device L-BFGS (float32: x, gradient, direction, trial, trial gradient, the two-loop's q and
# r, the new pair); gd and Adam keep a few float32 images (x, gradient, Adam's moments).
SCIPY_EXTRA_VECTORS = 4
DEVICE_LBFGS_EXTRA_VECTORS = 8
DEVICE_EXTRA_VECTORS = 4


def _optimiser_bytes(settings: Settings, pixels: int) -> float:
    """The optimiser's memory: scipy's L-BFGS-B keeps 2 * m float64 vectors of the image's size (m =
    --lbfgs-memory), the device L-BFGS 2 * m float32 ones in its ring buffer, each a few more; auto may resolve to
    either, so it counts the larger."""
    vectors = 3 * pixels
    scipy = (2 * settings.lbfgs_memory + SCIPY_EXTRA_VECTORS) * vectors * 8
    device = (2 * settings.lbfgs_memory + DEVICE_LBFGS_EXTRA_VECTORS) * vectors * 4
    candidates = {"lbfgs": (scipy,), "lbfgs-device": (device,), "auto": (scipy, device)}
    return max(candidates.get(settings.optimizer, (DEVICE_EXTRA_VECTORS * vectors * 4,)))


def octave_share(settings: Settings, width: int, height: int) -> float:
    """The pixels of the octaves --stroke-scale matches, over the image's: their passes are held for the backward
    pass beside the image's own (a quarter for the half-size octave, a sixteenth for the next, ...)."""
    return sum(4.0 ** -level for level in octave_levels((height, width), settings.stroke_scale,
                                                        settings.stroke_octaves))


def estimate_bytes(settings: Settings, width: int, height: int) -> float:
    """Peak memory of a run at width x height: runtime + activations (x3 images on the concat path, and the
    octaves' passes) + optimiser."""
    pixels = width * height
    network = _network_bytes(settings, pixels) * (1.0 + octave_share(settings, width, height))
    return SAFETY_MARGIN * (RUNTIME_BYTES + network + _optimiser_bytes(settings, pixels))


# A tiled run keeps whole-image arrays (the content, the start and the canvas as float32 RGB, their preprocessed
# copies, the uint8 pictures, the float64 total-variation terms of the final loss) and one per style image: its
# peak RSS grew by 176 to 220 bytes per output pixel (15 to 18 float32 RGB copies) from 1024 to 4096 px
# (benchmarks/RESULTS.md, tiles of 512).
IMAGE_COPIES = 18


def tiled_estimate_bytes(settings: Settings, width: int, height: int, tile: int, styles: int, context: int,
                         align: int) -> float:
    """Peak memory of a tiled run (tiling.py): one tile's optimisation with `context` px of canvas around it, plus
    the whole-image arrays, which are small beside activations, and the passes of the whole image's octaves."""
    window_pixels = min(tile + align + 2 * context, width) * min(tile + align + 2 * context, height)
    images = (IMAGE_COPIES + styles) * 3 * BYTES_PER_FLOAT * width * height
    octaves = _network_bytes(settings, width * height) * octave_share(settings, width, height)
    return SAFETY_MARGIN * (RUNTIME_BYTES + _network_bytes(settings, window_pixels) + octaves
                            + _optimiser_bytes(settings, window_pixels) + images)


def available_bytes() -> float | None:
    """Memory this run may use: $KERAS_STYLE_MEMORY_LIMIT_MB, else the smallest of the system's available memory
    (Linux) and what the process's cgroups still allow (a container's limit: limits.py)."""
    limit = os.environ.get(MEMORY_LIMIT_VARIABLE)
    if limit:
        return float(limit) * 2**20
    found = [value for value in (_system_available(), cgroup_memory_available()) if value is not None]
    return min(found) if found else None


def _system_available() -> float | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(settings: Settings, width: int, height: int) -> None:
    """Refuse, before allocating, a size whose estimate exceeds the memory available (the whole image at once)."""
    _check_fits(estimate_bytes(settings, width, height), available_bytes(), settings, width, height, tiled=False)


# --tile-size auto: the largest of these whose tiled run fits in the memory available.
AUTO_TILE_SIZES = (1024, 768, 512, 384, 256, 192, 128, MIN_TILE_SIZE)


def tile_size_for(settings: Settings, width: int, height: int, styles: int = 1, masked: bool = False) -> int | None:
    """The tile size a scale of width x height runs with (None: the whole image at once); UserError when even the
    smallest tile would not fit in the memory available, or when masks meet tiling (their regions are not tiled)."""
    available = available_bytes()

    def tiled(size: int) -> float:
        return tiled_estimate_bytes(settings, width, height, size, styles, TILE_CONTEXT, ALIGN)

    tile = settings.tile_size
    if tile == "off" or MODES[settings.mode].whole_images_only:
        check_memory(settings, width, height)
        return None
    if tile == "auto":
        if available is None or estimate_bytes(settings, width, height) <= available:
            return None
        tile = next((size for size in AUTO_TILE_SIZES if size < max(width, height) and tiled(size) <= available),
                    MIN_TILE_SIZE)
    if max(width, height) <= tile:
        return None  # a scale that fits in one tile
    if masked:
        raise UserError("masks cannot be combined with tiling (their regions are not split into tiles): use "
                        "--tile-size off and a smaller --size")
    _check_fits(tiled(tile), available, settings, width, height, tiled=True)
    return tile


def _check_fits(needed: float, available: float | None, settings: Settings, width: int, height: int,
                tiled: bool) -> None:
    if available is None or needed <= available:
        return
    advice = "use a smaller --size"
    if MODES[settings.mode].whole_images_only:
        advice += " or --mode cached (which can also tile)"
    elif not tiled:
        advice += " or --tile-size auto"
    raise UserError(
        f"{width}x{height} px with {settings.network} ({settings.mode} path{', tiled' if tiled else ''}) needs about "
        f"{needed / 2**30:.1f} GB but {available / 2**30:.1f} GB is available; {advice}"
    )


def check_tile_size(settings: Settings, width: int, height: int) -> None:
    """A tile size given in pixels must not exceed the output's longest side (UserError)."""
    if isinstance(settings.tile_size, int) and settings.tile_size > max(width, height):
        raise UserError(f"--tile-size {settings.tile_size} is larger than the {width}x{height} px output; give at most "
                        f"{max(width, height)}, or auto")
