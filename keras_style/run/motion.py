"""Motion between consecutive frames of a video: OpenCV's DIS optical flow both ways, warping an image along it, and
where the flow can be trusted (Ruder, Dosovitskiy and Brox, "Artistic style transfer for videos", GCPR 2016).

A flow field (H, W, 2) holds, for each pixel p of one frame, the displacement (dx, dy) to where p is in the other:
`backward` goes from the current frame to the previous one, so `warp(previous_output, backward)` is the previous
output carried to the current frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Ruder et al.'s consistency check (section 3.2): a pixel whose backward flow and the forward flow at its target do
# not cancel out is disoccluded; one where the flow changes faster than its size allows is on a motion boundary.
DISOCCLUSION_RATIO = 0.01
DISOCCLUSION_MARGIN = 0.5  # px^2
BOUNDARY_RATIO = 0.01
BOUNDARY_MARGIN = 0.002  # px^2

# OpenCV's interpolations by name.
WARP_KERNELS = {"linear": "INTER_LINEAR", "cubic": "INTER_CUBIC", "lanczos": "INTER_LANCZOS4"}
# The previous result is carried with Lanczos: a bilinear sample between pixels averages its neighbours, which
# blurs the strokes, and each frame starts from (and the temporal term holds it to) the one before, so the blur
# builds up frame after frame. Measured on the demo clip at 192 px (benchmarks/RESULTS.md, "Video"), the bilinear
# carry at 3e11 raised the VGG16-judged style 1.8x over the frames stylized alone, Lanczos at 1e11 by 4 %, and flickered
# less.
CARRY_KERNEL = "lanczos"
# The warping error warps with Lanczos too: a bilinear warp blurs the previous output, so a stylized frame moved
# exactly along the flow still scores 0.015 against its bilinear-warped predecessor (0.001 with Lanczos; the demo clip
# at 256 px), about what the steadiest runs score: bilinear measured its own blur and rewarded blurred results.
WARPING_ERROR_KERNEL = "lanczos"


def _cv2():
    try:
        import cv2
    except ImportError:
        from keras_style.errors import SetupError

        raise SetupError('video needs OpenCV: pip install -e ".[video]"') from None
    return cv2


def optical_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The dense flow (H, W, 2) float32 from `source` to `target` (RGB uint8 frames of one size): pixel p of
    `source` is at p + flow[p] in `target`. DIS (Kroeger et al. 2016) at OpenCV's "medium" preset: fast on a CPU,
    and accurate enough for the consistency check."""
    cv2 = _cv2()
    to_grey = lambda frame: cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2GRAY)  # noqa: E731
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return flow.calc(to_grey(source), to_grey(target), None).astype(np.float32)


def warp(image: np.ndarray, flow: np.ndarray, kernel: str = "linear") -> np.ndarray:
    """`image` (H, W) or (H, W, C) sampled at p + flow[p] for every pixel p, with `kernel` (one of WARP_KERNELS);
    positions outside take the nearest edge pixel. With the backward flow, the previous frame carried to the current
    one."""
    cv2 = _cv2()
    height, width = flow.shape[:2]
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(np.asarray(image, dtype=np.float32), columns + flow[..., 0], rows + flow[..., 1],
                     interpolation=getattr(cv2, WARP_KERNELS[kernel]), borderMode=cv2.BORDER_REPLICATE)


def reliable(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(H, W) float32, 1 where the current frame's pixel was visible in the previous frame and is not on a motion
    boundary, 0 elsewhere: Ruder et al.'s forward-backward consistency criterion, from the backward flow (current to
    previous) and the forward flow (previous to current)."""
    forward_there = warp(forward, backward)  # the forward flow at p + backward[p]
    round_trip = np.sum(np.square(backward + forward_there), axis=-1)
    disoccluded = round_trip > DISOCCLUSION_RATIO * (np.sum(np.square(backward), axis=-1)
                                                    + np.sum(np.square(forward_there), axis=-1)) + DISOCCLUSION_MARGIN
    du_dy, du_dx = np.gradient(backward[..., 0])
    dv_dy, dv_dx = np.gradient(backward[..., 1])
    gradient = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2
    boundary = gradient > BOUNDARY_RATIO * np.sum(np.square(backward), axis=-1) + BOUNDARY_MARGIN
    return (~(disoccluded | boundary)).astype(np.float32)


@dataclass(frozen=True)
class Motion:
    """The flows between two consecutive input frames and the current frame's reliable pixels."""

    backward: np.ndarray  # current -> previous
    forward: np.ndarray  # previous -> current
    reliable: np.ndarray  # (H, W), 1 or 0

    def carried(self, previous: np.ndarray) -> np.ndarray:
        """The previous frame's image (0..255) carried to the current frame, with CARRY_KERNEL (whose overshoot at
        sharp edges is clipped back to 0..255)."""
        return np.clip(warp(previous, self.backward, CARRY_KERNEL), 0.0, 255.0)


def motion(previous: np.ndarray, current: np.ndarray) -> Motion:
    """The Motion from `previous` to `current` (RGB uint8 frames of one size)."""
    backward, forward = optical_flow(current, previous), optical_flow(previous, current)
    return Motion(backward, forward, reliable(backward, forward))


def warping_error(previous_output: np.ndarray, current_output: np.ndarray, moved: Motion,
                  kernel: str = WARPING_ERROR_KERNEL) -> float:
    """Lai et al.'s warping error (ECCV 2018) between two consecutive outputs: the mean absolute difference, on a 0..1
    scale, between the current output and the previous one warped along the inputs' flow with `kernel`, over the
    reliable pixels (0 when none is)."""
    carried = warp(np.asarray(previous_output, dtype=np.float32), moved.backward, kernel)
    difference = np.abs(np.asarray(current_output, dtype=np.float32) - carried).mean(axis=-1) / 255.0
    count = moved.reliable.sum()
    return float((difference * moved.reliable).sum() / count) if count else 0.0
