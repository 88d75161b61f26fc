"""Every setting of a run in one dataclass, built from a preset plus explicit options, and validated."""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional

from .compute import PRECISIONS
from .errors import UserError
from .images import INITS, RESIZE_MODES
from .layers import CONVS_PER_BLOCK, resolve_layers, valid_layers
from .presets import PRESETS

OPTIMIZERS = ("lbfgs", "lbfgs-device", "gd", "adam")
MODES = ("cached", "concat")
NORMALIZATIONS = ("paper", "keras-example")
DEFAULT_PRESET = "gatys"


@dataclass(frozen=True)
class Settings:
    """One run's settings; names match the command-line options (--content-weight -> content_weight)."""

    preset: str = DEFAULT_PRESET
    network: str = "vgg19"
    weights: str = "imagenet"
    pooling: str = "max"
    size: int = 512
    resize: str = "longest"
    iterations: int = 500
    content_layers: tuple[str, ...] = ("block4_conv2",)
    style_layers: tuple[str, ...] = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
    style_layer_weights: Optional[tuple[float, ...]] = None
    content_weight: float = 1.0
    style_weight: float = 1e3
    tv_weight: float = 0.0
    normalization: str = "paper"
    init: str = "content"
    seed: Optional[int] = None
    optimizer: str = "lbfgs"
    learning_rate: Optional[float] = None
    lr_decay: float = 1.0
    lr_decay_steps: int = 100
    outer_iterations: Optional[int] = None
    maxfun: Optional[int] = None
    mode: str = "cached"
    style_scale: float = 1.0
    scales: int = 1
    jit_compile: Optional[bool] = None
    precision: str = "auto"

    @classmethod
    def from_options(cls, preset: Optional[str] = None, **options: Any) -> "Settings":
        """Start from the defaults, apply the preset, then every option that is not None; validate."""
        name = preset or DEFAULT_PRESET
        if name not in PRESETS:
            raise UserError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise UserError(f"unknown setting(s): {', '.join(unknown)}")
        values: dict[str, Any] = dict(PRESETS[name].values)
        values.update({key: value for key, value in options.items() if value is not None})
        # An explicit loop length without an explicit outer loop means one continuous L-BFGS run.
        if options.get("iterations") is not None and options.get("outer_iterations") is None:
            values.pop("outer_iterations", None)
            values.pop("maxfun", None)
        return cls(preset=name, **values).validated()

    def validated(self) -> "Settings":
        """Check every value and normalise layer names to Keras names; raises UserError."""
        if self.network not in CONVS_PER_BLOCK:
            raise UserError(f"unknown network {self.network!r}; choose from {', '.join(CONVS_PER_BLOCK)}")
        _choice("pooling", self.pooling, ("max", "avg"))
        _choice("resize", self.resize, RESIZE_MODES)
        _choice("normalization", self.normalization, NORMALIZATIONS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("mode", self.mode, MODES)
        if self.init not in INITS and not os.path.exists(str(self.init)):
            raise UserError(f"--init must be one of {', '.join(INITS)} or an image file; {self.init!r} is neither")
        _positive_int("size", self.size)
        _positive_int("iterations", self.iterations)
        _positive_int("lr-decay-steps", self.lr_decay_steps)
        _positive_int("scales", self.scales)
        _choice("precision", self.precision, PRECISIONS)
        if self.outer_iterations is not None:
            _positive_int("outer-iterations", self.outer_iterations)
        if self.maxfun is not None:
            _positive_int("maxfun", self.maxfun)
        for name in ("content_weight", "style_weight", "tv_weight"):
            _non_negative(name.replace("_", "-"), getattr(self, name))
        _positive("style-scale", self.style_scale)
        _positive("lr-decay", self.lr_decay)
        if self.learning_rate is not None:
            _positive("learning-rate", self.learning_rate)
        if self.seed is not None and not (isinstance(self.seed, int) and 0 <= self.seed < 2**32):
            raise UserError(f"--seed must be an integer from 0 to 2**32-1, got {self.seed!r}")
        content_layers = resolve_layers(_as_list(self.content_layers), self.network)
        style_layers = resolve_layers(_as_list(self.style_layers), self.network)
        layer_weights = self.style_layer_weights
        if layer_weights is not None:
            try:
                layer_weights = tuple(float(w) for w in _as_list(layer_weights))
            except (TypeError, ValueError):
                raise UserError(f"--style-layer-weights must be numbers, got {self.style_layer_weights!r}") from None
            if len(layer_weights) != len(style_layers):
                raise UserError(
                    f"--style-layer-weights has {len(layer_weights)} values for {len(style_layers)} style layers"
                )
            for weight in layer_weights:
                _non_negative("style-layer-weights", weight)
        if self.mode == "concat" and self.style_scale != 1.0:
            raise UserError("--style-scale needs --mode cached: the concat path resizes the style to the content")
        return replace(
            self, content_layers=content_layers, style_layers=style_layers, style_layer_weights=layer_weights
        )

    @property
    def feature_layers(self) -> tuple[str, ...]:
        """Content and style layers without repeats, in the order the feature model returns them."""
        return tuple(dict.fromkeys(self.content_layers + self.style_layers))

    @property
    def deepest_layer(self) -> str:
        """The last layer any loss reads: the network is cut after it."""
        order = valid_layers(self.network)
        return max(self.feature_layers, key=order.index)

    @property
    def layer_weights(self) -> tuple[float, ...]:
        """Per-style-layer weights w_l; equal weights 1/L unless given."""
        if self.style_layer_weights is not None:
            return self.style_layer_weights
        return tuple(1.0 / len(self.style_layers) for _ in self.style_layers)

    @property
    def evaluation_budget(self) -> int:
        """Loss-and-gradient evaluations the optimiser is allowed (the progress bar's length)."""
        if self.optimizer == "lbfgs" and self.outer_iterations is not None:
            return self.outer_iterations * (self.maxfun or 20)
        return self.iterations

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_list(value: Any) -> list:
    """'a,b c' or ['a,b', 'c'] -> ['a', 'b', 'c']; numbers pass through."""
    items = [value] if isinstance(value, str) else list(value)
    parts: list = []
    for item in items:
        parts.extend(item.replace(",", " ").split() if isinstance(item, str) else [item])
    return parts


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"unknown {name} {value!r}; choose from {', '.join(choices)}")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UserError(f"--{name} must be a positive integer, got {value!r}")


def _non_negative(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise UserError(f"--{name} must be a finite number >= 0, got {value!r}")


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise UserError(f"--{name} must be a finite number > 0, got {value!r}")
