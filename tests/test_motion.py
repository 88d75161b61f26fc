"""Video's motion (run/motion.py) and temporal term (engine/terms.py): warping along DIS flow, Ruder et al.'s
consistency mask, and the temporal term's value and gradient through an Evaluator."""
from __future__ import annotations

import numpy as np
import pytest

from .conftest import build, require

require("cv2", "video needs the [video] extra")

from keras_style.run.motion import motion, warp, warping_error  # noqa: E402


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random RGB texture (uint8): something for the flow to track at every pixel."""
    from scipy.ndimage import gaussian_filter

    noise = np.random.default_rng(seed).random((height, width, 3))
    smooth = np.stack([gaussian_filter(noise[..., channel], 2.0) for channel in range(3)], axis=-1)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (smooth * 255).astype(np.uint8)


def test_warping_a_translated_frame_reproduces_the_shifted_frame_away_from_the_border():
    scene = texture(80, 112, 0)
    previous, current = scene[:, 8:104], scene[:, 5:101]  # the camera moved 3 px left: things move 3 px right
    moved = motion(previous, current)
    interior = (slice(8, -8), slice(8, -8))
    assert np.abs(moved.backward[interior][..., 0] + 3.0).mean() < 0.2  # current -> previous: 3 px left
    assert np.abs(moved.backward[interior][..., 1]).mean() < 0.2
    carried = moved.carried(previous.astype(np.float32))
    assert np.abs(carried[interior] - current[interior]).mean() < 2.0  # levels of 255
    assert moved.reliable[interior].mean() > 0.95  # nothing is occluded
    # and an exact shift, warped with the exact flow, is exact away from the border
    flow = np.zeros((80, 96, 2), np.float32)
    flow[..., 0] = -3.0
    assert np.array_equal(warp(previous, flow)[:, 3:], previous[:, :-3].astype(np.float32))


def test_the_previous_result_is_carried_without_blurring_its_strokes():
    """A frame starts from, and the temporal term holds it to, the previous result carried along the flow: a
    bilinear carry between pixels averages neighbours and the blur builds up frame after frame. Half a pixel is the
    worst case: Lanczos keeps the fine detail, bilinear loses a quarter of it, and the carry stays within 0..255."""
    from scipy.ndimage import gaussian_filter

    from keras_style.run.motion import Motion

    strokes = np.random.default_rng(4).uniform(0, 255, (64, 64, 3)).astype(np.float32)
    strokes = np.stack([gaussian_filter(strokes[..., channel], 0.7) for channel in range(3)], axis=-1)
    flow = np.zeros((64, 64, 2), np.float32)
    flow[..., 0] = 0.5
    moved = Motion(flow, -flow, np.ones((64, 64), np.float32))

    def detail(image: np.ndarray) -> float:  # mean difference between neighbouring pixels, inside the border
        return float(np.abs(np.diff(image[8:-8, 8:-8], axis=1)).mean())

    assert detail(moved.carried(strokes)) > 0.95 * detail(strokes)
    assert detail(warp(strokes, flow)) < 0.8 * detail(strokes)  # what the bilinear carry did
    edge = np.zeros((64, 64, 3), np.float32)
    edge[:, 32:] = 255.0  # a hard edge: Lanczos overshoots on both sides of it
    assert warp(edge, flow, "lanczos").min() < -1.0 and warp(edge, flow, "lanczos").max() > 256.0
    carried = moved.carried(edge)
    assert carried.min() == 0.0 and carried.max() == 255.0


def test_a_fine_texture_moved_exactly_has_almost_no_warping_error():
    """The measure of flicker must not score its own blur: a band-limited fine texture moved exactly half a pixel (a
    phase shift of its Fourier transform) is perfectly steady, and its warping error is near 0; warped bilinearly, the
    blur alone is several times larger."""
    from keras_style.run.motion import Motion

    rng = np.random.default_rng(5)
    height, width = 64, 64
    spectrum = np.fft.fft2(rng.normal(size=(height, width, 3)), axes=(0, 1))
    frequencies_y, frequencies_x = np.meshgrid(np.fft.fftfreq(height), np.fft.fftfreq(width), indexing="ij")
    spectrum[np.hypot(frequencies_x, frequencies_y) > 0.3] = 0  # fine, but below what the pixels can hold

    def frame(shift: float) -> np.ndarray:  # the texture moved `shift` px right
        moved = spectrum * np.exp(-2j * np.pi * frequencies_x * shift)[..., None]
        return np.real(np.fft.ifft2(moved, axes=(0, 1)))

    previous, current = frame(0.0), frame(0.5)
    scale = 100.0 / previous.std()
    previous, current = previous * scale + 128.0, current * scale + 128.0
    flow = np.zeros((height, width, 2), np.float32)
    flow[..., 0] = -0.5  # current -> previous
    reliable = np.zeros((height, width), np.float32)
    reliable[8:-8, 8:-8] = 1.0  # away from the border the periodic texture wraps around
    moved = Motion(flow, -flow, reliable)
    assert warping_error(previous, current, moved) < 0.01
    assert warping_error(previous, current, moved, "linear") > 4 * warping_error(previous, current, moved)


def test_the_mask_marks_the_pixels_an_occluder_uncovers():
    background = texture(72, 96, 1)
    square = texture(24, 24, 2) // 2 + 128  # brighter, its own texture

    def frame(left: int) -> np.ndarray:
        picture = background.copy()
        picture[24:48, left:left + 24] = square
        return picture

    previous, current = frame(30), frame(38)  # the square moved 8 px right over a still background
    moved = motion(previous, current)
    uncovered = moved.reliable[26:46, 32:37]  # hidden by the square before, visible now
    far = np.concatenate([moved.reliable[:, :16].ravel(), moved.reliable[:, 80:].ravel()])
    assert uncovered.mean() < 0.3, uncovered
    assert far.mean() > 0.95
    # the warping error counts reliable pixels only: the previous frame carried along the flow matches the current
    assert warping_error(previous, current, moved) < 0.02
    assert warping_error(previous, np.zeros_like(current), moved) > 0.2


def test_a_later_frame_starts_from_the_carried_result_and_its_uncovered_pixels_from_its_init():
    """The pixels an occluder uncovers have no history: they start as a first frame would, from the preset's --init
    (the default's palette-recoloured photograph), not from the photograph's own colours, which a frame's few
    evaluations left unpainted and the flow carried on."""
    from keras_style.config.settings import Settings
    from keras_style.run.loading import prepare
    from keras_style.run.video import carried_start

    background = texture(72, 96, 1)
    square = texture(24, 24, 2) // 2 + 128

    def frame(left: int) -> np.ndarray:
        picture = background.copy()
        picture[24:48, left:left + 24] = square
        return picture

    previous, current = frame(30), frame(38)
    style = np.zeros((48, 64, 3), np.uint8)
    style[..., 2] = 200  # a blue painting: the palette start is blue, the photograph is not
    settings = Settings.from_options(size=96, init="palette", scales=1)
    prepared = prepare(current, [style], settings)
    previous_output = np.full(current.shape, 77.0, np.float32)  # the previous result: flat grey
    started, share = carried_start(prepared, previous.astype(np.float32), previous_output, current, "temporal",
                                   settings)
    reliable = motion(previous, current).reliable > 0
    start, init = started.final.start, prepared.final.start
    assert 0.8 < share < 1.0
    assert np.allclose(start[reliable], 77.0, atol=0.5)  # carried where the flow is trusted
    assert np.array_equal(start[~reliable], init[~reliable])  # the frame's own start elsewhere
    assert not np.allclose(init[~reliable], prepared.final.content[~reliable], atol=20)
    warped, target_reliable = started.final.previous
    assert np.array_equal(target_reliable > 0, reliable) and np.allclose(warped, 77.0, atol=0.5)
    # --preserve-colors luminance-only optimises grey images: the coloured result is carried as its luminance
    grey_settings = Settings.from_options(size=96, init="palette", scales=1, preserve_colors="luminance-only")
    coloured = np.zeros(current.shape, np.float32)
    coloured[..., 0] = 200.0  # a red previous result
    started, _ = carried_start(prepare(current, [style], grey_settings), previous.astype(np.float32), coloured,
                               current, "temporal", grey_settings)
    carried = started.final.start[reliable]
    assert np.allclose(carried, carried[:, :1], atol=0.01) and 40 < carried.mean() < 80  # grey: 0.299 x 200


def test_the_temporal_term_gradient_matches_finite_differences():
    from keras_style.engine.terms import PreviousFrame
    from keras_style.run.assemble import settings_evaluator

    settings, content, style, model = build(size=(40, 32), content_weight=0.0, style_weight=0.0, tv_weight=0.0,
                                            temporal_weight=3.0)
    rng = np.random.default_rng(0)
    warped = (content + rng.normal(scale=30.0, size=content.shape)).astype(np.float32)
    mask = (rng.random(content.shape[:3] + (1,)) > 0.3).astype(np.float32)
    evaluator = settings_evaluator(model, settings, content, style, previous=PreviousFrame(warped, mask))
    assert [name for name, _ in evaluator.layout] == ["content", "style", "tv", "temporal"]
    x = (content + rng.normal(scale=20.0, size=content.shape)).astype(np.float64)
    value, gradient = evaluator.loss_and_grads(x.ravel())
    # the mean over the pixels (a term that does not grow with them: its weight is the same at every size)
    expected = 3.0 * np.sum(mask * (x - warped) ** 2) / x.size
    assert value == pytest.approx(expected, rel=1e-4)
    for direction in [gradient / np.linalg.norm(gradient) * np.sqrt(x.size), rng.normal(size=x.size)]:
        step = 0.05
        plus, _ = evaluator.loss_and_grads(x.ravel() + step * direction)
        minus, _ = evaluator.loss_and_grads(x.ravel() - step * direction)
        assert float(gradient @ direction) == pytest.approx((plus - minus) / (2 * step), rel=1e-2)
    # a masked-out pixel has no gradient; without a previous frame there is no temporal term
    assert np.all(gradient.reshape(x.shape)[np.broadcast_to(mask, x.shape) == 0] == 0)
    layout = settings_evaluator(model, settings, content, style).layout
    assert [name for name, _ in layout] == ["content", "style", "tv"]


def test_a_single_image_still_tiles_with_the_temporal_weight_declared():
    """The temporal term exists only with a previous frame: a still image in tiles is not refused for its weight,
    a video frame is, by loading.prepare (before TensorFlow loads)."""
    from keras_style.config.settings import Settings
    from keras_style.errors import UserError
    from keras_style.run.assemble import check_tileable, loss_spec
    from keras_style.run.loading import prepare

    from .conftest import CONTENT, STYLE

    loss = loss_spec(Settings.from_options())
    assert loss.weight("temporal") > 0
    check_tileable(loss)
    tiled = Settings.from_options(size=128, tile_size=64, scales=1, weights="none")
    assert prepare(CONTENT, STYLE, tiled).final.tile == 64
    with pytest.raises(UserError, match="a video frame is optimised whole: give --tile-size off"):
        prepare(CONTENT, STYLE, tiled, frame=True)
