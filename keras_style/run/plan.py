"""The scale plan of a run: which sizes it optimises at, coarse to fine, and how each scale hands over to the next."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image

from keras_style.config.settings import Settings
from keras_style.files.images import to_array

SCALE_STEP = 2 ** 0.5
# The final size does work no coarse size can do for it (the finest texture, which upsampling blurs away), so it
# keeps this share of the budget; the coarser sizes share the rest, each twice the next finer one's.
FINAL_SCALE_SHARE = 0.4


def scale_plan(settings: Settings) -> list[tuple[int, int]]:
    """(size, evaluations) per scale, coarse to fine: sizes shrink by sqrt(2) per step down from --size (a gentler
    upsampling than 2x keeps more of the coarse result); most of the budget goes to the cheaper coarse sizes,
    FINAL_SCALE_SHARE to the final one."""
    count = settings.scales
    budget = settings.evaluation_budget
    if count == 1:
        return [(settings.size, budget)]
    sizes = [max(1, round(settings.size / SCALE_STEP ** (count - 1 - i))) for i in range(count)]
    coarse_shares = [2.0 ** (count - 2 - i) for i in range(count - 1)]
    shares = [(1 - FINAL_SCALE_SHARE) * share / sum(coarse_shares) for share in coarse_shares] + [FINAL_SCALE_SHARE]
    evaluations = [int(budget * share) for share in shares[:-1]]
    evaluations.append(budget - sum(evaluations))  # the final size gets the rounding leftovers, so at least one
    return [(size, count) for size, count in zip(sizes, evaluations) if count > 0]


def checked_plan(plan: list[tuple[int, int]], settings: Settings) -> list[tuple[int, int]]:
    """An explicit plan (for benchmarks of other schedules) must end at the output size."""
    plan = list(plan)
    if not plan or plan[-1][0] != settings.size:
        raise ValueError(f"a plan must end at the output size {settings.size}, got {plan}")
    return plan


def balanced_for_scale(settings: Settings, pixel_ratio: float) -> Settings:
    """Settings for a coarse scale with `pixel_ratio` times fewer pixels than the final size.

    The content and total-variation losses are sums over positions, so they shrink with the image, while the
    style loss is normalised by the positions and does not: without compensation a coarse scale would weigh style
    `pixel_ratio` times more than the final size and its result would drift from the content the final scale
    then has to recover. One continuous L-BFGS run per scale (no restart loop).
    """
    return replace(
        settings,
        content_weight=settings.content_weight * pixel_ratio,
        tv_weight=settings.tv_weight * pixel_ratio,
        outer_iterations=None,
        maxfun=None,
    )


def scale_settings(settings: Settings, size: int, evaluations: int, pixel_ratio: float, several: bool) -> Settings:
    """The settings one scale of a plan runs with."""
    scaled = replace(settings, size=size, iterations=evaluations)
    return balanced_for_scale(scaled, pixel_ratio) if several else scaled


def upsampled(image_rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A coarse result (uint8 RGB) resized to the next scale, as that scale's starting image."""
    height, width = like.shape[:2]
    picture = Image.fromarray(np.clip(image_rgb, 0, 255).round().astype(np.uint8))
    return to_array(picture.resize((width, height), Image.Resampling.LANCZOS))
