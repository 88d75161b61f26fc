"""The plan of a run: which sizes it optimises at, coarse to fine, how each scale hands over to the next, and where
a tiled scale's tiles lie (the geometry of run/tiling.py: overlapping tiles, two passes, blended seams)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from keras_style.config.settings import Settings
from keras_style.engine.spec import OptimizerSpec
from keras_style.files.images import to_array

SCALE_STEP = 2 ** 0.5
# The final size does work no coarse size can do for it (the finest texture, which upsampling blurs away), so it
# keeps this share of the budget; the coarser sizes share the rest, each twice the next finer one's.
FINAL_SCALE_SHARE = 0.4
# Coarse sizes below this are left out of a plan (its budget goes to the sizes that remain): smaller ones hold too
# little of the picture for VGG's deeper layers, and below 32 px the network cannot run at all.
MIN_SCALE_SIZE = 64


def scale_plan(settings: Settings) -> list[tuple[int, int]]:
    """(size, evaluations) per scale, coarse to fine: sizes shrink by sqrt(2) per step down from --size (a gentler
    upsampling than 2x keeps more of the coarse result), none below MIN_SCALE_SIZE. --scale-budget coarse: most of
    the budget goes to the cheaper coarse sizes, FINAL_SCALE_SHARE to the final one; equal: every size the same."""
    budget = settings.evaluation_budget
    count = 1
    while count < settings.scales and settings.size / SCALE_STEP ** count >= MIN_SCALE_SIZE - 0.5:
        count += 1
    if count == 1:
        return [(settings.size, budget)]
    sizes = [max(1, round(settings.size / SCALE_STEP ** (count - 1 - i))) for i in range(count)]
    if settings.scale_budget == "equal":
        shares = [1.0 / count] * count
    else:
        coarse_shares = [2.0 ** (count - 2 - i) for i in range(count - 1)]
        shares = [(1 - FINAL_SCALE_SHARE) * share / sum(coarse_shares) for share in coarse_shares]
        shares.append(FINAL_SCALE_SHARE)
    evaluations = [int(budget * share) for share in shares[:-1]]
    evaluations.append(budget - sum(evaluations))  # the final size gets the rounding leftovers, so at least one
    return [(size, count) for size, count in zip(sizes, evaluations) if count > 0]


def checked_plan(plan: list[tuple[int, int]], settings: Settings) -> list[tuple[int, int]]:
    """An explicit plan (for benchmarks of other schedules) must end at the output size."""
    plan = list(plan)
    if not plan or plan[-1][0] != settings.size:
        raise ValueError(f"a plan must end at the output size {settings.size}, got {plan}")
    return plan


def scale_optimizer(optimizer: OptimizerSpec, evaluations: int, several: bool) -> OptimizerSpec:
    """The optimiser one scale of a plan runs with: with several scales, each is one continuous run (no restart
    loop) of its share of the budget. (Each scale's loss terms balance themselves for its size: engine/terms.py.)"""
    return optimizer.with_budget(evaluations) if several else optimizer


def upsampled(image_rgb: np.ndarray, like: np.ndarray, detail: np.ndarray | None = None) -> np.ndarray:
    """A coarse result (uint8 RGB) resized to the next scale, as that scale's starting image; with `detail` (a
    luminance, loading.lost_detail), that added to every channel (a grey change: the colours stay the result's)."""
    height, width = like.shape[:2]
    picture = Image.fromarray(np.clip(image_rgb, 0, 255).round().astype(np.uint8))
    start = to_array(picture.resize((width, height), Image.Resampling.LANCZOS))
    if detail is None:
        return start
    return np.clip(start + detail[..., None], 0, 255).astype(np.float32)


# Tile and window edges fall on multiples of the largest stride of VGG's layers (block5: 16 px per position), so a
# window's features line up with the whole image's.
ALIGN = 16
# Around a tile: the canvas there is part of the image the tile is optimised in (read, never changed), and the
# targets over a region are computed on a window as wide, so features near a tile's edges see their real
# surroundings up to the receptive field of block5_conv1, the deepest default layer (78 px either side). One margin
# for both keeps the number of window shapes, each traced once, small.
TILE_CONTEXT = 80
TILE_PASSES = 2  # the second pass's tiles straddle the first pass's seams
TILE_OVERLAP = 0.25  # of the tile size: where neighbouring tiles are blended


@dataclass(frozen=True)
class Tile:
    """A rectangle of the output, in pixels."""

    top: int
    left: int
    height: int
    width: int

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def right(self) -> int:
        return self.left + self.width

    def crop(self, image: np.ndarray) -> np.ndarray:
        """This tile of a network-input image (1, H, W, 3)."""
        return image[:, self.top:self.bottom, self.left:self.right, :]

    def around(self, margin: int, height: int, width: int) -> Tile:
        """This tile grown by `margin` px on each side, within the image."""
        top, left = max(0, self.top - margin), max(0, self.left - margin)
        return Tile(top, left, min(height, self.bottom + margin) - top, min(width, self.right + margin) - left)

    def within(self, outer: Tile) -> tuple[int, int, int, int]:
        """(top, left, height, width) of this tile inside `outer`."""
        return self.top - outer.top, self.left - outer.left, self.height, self.width


def _aligned(value: float) -> int:
    return int(value) // ALIGN * ALIGN


def _base_starts(length: int, tile: int) -> list[int]:
    """Evenly spread starts of tiles covering 0..length with at least TILE_OVERLAP of overlap (aligned). Aligning
    a start down can widen the gap to the next one by up to ALIGN - 1 px: one tile more, until no gap is too wide."""
    if length <= tile:
        return [0]
    stride = tile * (1 - TILE_OVERLAP)
    count = math.ceil((length - tile) / stride) + 1
    while True:
        starts = sorted({_aligned(index * (length - tile) / (count - 1)) for index in range(count)})
        if all(second - first <= stride for first, second in zip(starts, starts[1:])):
            return starts
        count += 1


def _shifted_starts(starts: list[int]) -> list[int]:
    """The other pass's starts: the two edge tiles and one tile between each pair of the base grid's."""
    if len(starts) == 1:
        return starts
    middles = [_aligned((first + second) / 2) for first, second in zip(starts, starts[1:])]
    return sorted({starts[0], *middles, starts[-1]})


def _spans(starts: list[int], length: int, tile: int) -> list[tuple[int, int]]:
    """(start, size) per tile; the last one reaches the edge (up to ALIGN - 1 px more than the tile size)."""
    return [(start, (length if start == starts[-1] else min(start + tile, length)) - start) for start in starts]


def tile_passes(width: int, height: int, tile: int) -> list[list[Tile]]:
    """The tiles of each pass in the order they are optimised. Every other pass is shifted: between each pair of the
    base grid's tiles lies one of its tiles, so the base grid's seams fall inside them. Its tiles at the image's
    edges, which coincide with the base grid's, go first, and the tiles in between last, so that they have the last
    word over the base grid's seams."""
    rows, columns = _base_starts(height, tile), _base_starts(width, tile)
    passes = []
    for index in range(TILE_PASSES):
        row_starts, column_starts = rows, columns
        if index % 2:
            row_starts, column_starts = _shifted_starts(rows), _shifted_starts(columns)
        tiles = [
            Tile(top, left, tile_height, tile_width)
            for top, tile_height in _spans(row_starts, height, tile)
            for left, tile_width in _spans(column_starts, width, tile)
        ]
        if index % 2:
            tiles.sort(key=lambda each: (each.left not in (columns[0], columns[-1]),
                                         each.top not in (rows[0], rows[-1])))
        passes.append(tiles)
    return passes


def evaluations_per_tile(evaluations: int) -> int:
    """Each tile gets the scale's evaluations, split over the passes: about an untiled run's work per pixel."""
    return max(1, math.ceil(evaluations / TILE_PASSES))


def blend_overlap(tile_size: int) -> int:
    """The width of the ramp over which a tile's result is blended into the canvas at an inner edge."""
    return max(1, round(tile_size * TILE_OVERLAP))


def blend_weights(tile: Tile, width: int, height: int, overlap: int) -> np.ndarray:
    """(h, w, 1) weights of a tile's result in the canvas: 1 inside, ramping to 0 towards edges that have a
    neighbour (an edge on the image's border keeps full weight)."""

    def ramp(start: int, size: int, length: int) -> np.ndarray:
        position = np.arange(size, dtype=np.float32) + 0.5
        weight = np.ones(size, dtype=np.float32)
        if start > 0:
            weight = np.minimum(weight, position / overlap)
        if start + size < length:
            weight = np.minimum(weight, (size - position) / overlap)
        return weight

    rows = ramp(tile.top, tile.height, height)
    columns = ramp(tile.left, tile.width, width)
    return (rows[:, None] * columns[None, :])[:, :, None]
