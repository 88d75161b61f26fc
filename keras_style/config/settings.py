"""Every setting of a run in one dataclass, built from a preset plus explicit options, and validated."""
from __future__ import annotations

import math
import os
from dataclasses import Field, asdict, dataclass, field, fields, replace
from typing import Any

from keras_style.config.choices import (
    AVERAGED_OPTIMIZERS,
    BALANCE_REFERENCE_PIXELS,
    BALANCES,
    INITS,
    MODES,
    NORMALIZATIONS,
    OPTIMIZERS,
    PADDINGS,
    POOLINGS,
    PRECISIONS,
    PRESERVE_COLORS,
    REGIONAL_STYLE_LOSSES,
    RESIZE_MODES,
    SCALE_BUDGETS,
    SCALE_STARTS,
    STROKE_OCTAVES,
    STYLE_LOSSES,
    TV_FORMS,
    evaluation_budget,
)
from keras_style.config.layers import CONVS_PER_BLOCK, feature_layers, resolve_layers, valid_layers
from keras_style.config.presets import DEFAULT_PRESET, PAPER_STYLE_LAYERS, PRESETS
from keras_style.errors import UserError

NETWORKS = tuple(CONVS_PER_BLOCK)


@dataclass(frozen=True)
class Option:
    """How a setting appears on the command line, in --help and in the manual's options page (docs/options.md)."""

    help: str
    group: str
    choices: tuple | None = None
    metavar: str | None = None
    flag: str | None = None  # default: --name-with-dashes
    several: bool = False  # nargs="+"
    boolean: bool = False  # --flag / --no-flag
    show_default: bool = True


def setting(default: Any, help: str, group: str, **option: Any) -> Any:
    """A Settings field together with its command-line declaration (the one place a setting is declared)."""
    return field(default=default, metadata={"option": Option(help=help, group=group, **option)})


# --help groups, in the order they are shown.
GROUPS = ("preset and network", "sizes", "colours", "losses", "optimisation")


@dataclass(frozen=True)
class Settings:
    """One run's settings; names match the command-line options (--content-weight -> content_weight).

    Each field declares its default, allowed values and help text: the argparse parser, validation, --help and the
    manual's options page (docs/options.md) are derived from these declarations. The defaults are the gatys
    preset's values.
    """

    preset: str = setting(DEFAULT_PRESET, "named settings to start from; see --list-presets", "preset and network",
                          choices=tuple(PRESETS), metavar="NAME")
    network: str = setting("vgg19", "feature network", "preset and network", choices=NETWORKS)
    weights: str = setting("imagenet", "imagenet, none (random, for tests), or a path to a Keras .h5 weights file",
                           "preset and network")
    pooling: str = setting("max", "max (Keras VGG) or avg (the paper, article 000)", "preset and network",
                           choices=POOLINGS)
    padding: str = setting("zero", "padding of the first convolution: zero (Keras VGG) or replicate (the edge pixels "
                           "repeated, as crowsonkb's tool does against dark borders)", "preset and network",
                           choices=PADDINGS)
    size: int = setting(512, "output size in px: what --resize says it sets", "sizes")
    resize: str = setting("longest", "what --size sets: the longest side, the height (articles 002/003), or a "
                          "square (001)", "sizes", choices=RESIZE_MODES)
    style_scale: float = setting(1.0, "style's longest side as a multiple of the output's (cached mode only)",
                                 "sizes")
    tile_size: str | int = setting(
        "auto", "outputs larger than memory: optimise overlapping N x N tiles against the whole image's content "
        "features and style targets, blending the seams and shifting the grid between passes, so memory depends on "
        "N, not on --size; each tile gets --iterations (split over the passes); auto tiles only when the whole "
        "image would not fit in memory, off never tiles", "sizes", metavar="N/auto/off")
    preserve_colors: str = setting(
        "none", "original colours: luminance = stylize, then keep the content's chrominance (YCbCr); "
        "luminance-only = optimise on luminance alone, then the same (Gatys et al. 2017); histogram = move the "
        "style's colour mean and covariance to the content's before the run", "colours", choices=PRESERVE_COLORS)
    content_layers: tuple[str, ...] = setting(
        ("block4_conv2",), "content layers, Keras (block4_conv2) or paper (conv4_2) names", "losses",
        several=True, metavar="LAYER")
    style_layers: tuple[str, ...] = setting(
        PAPER_STYLE_LAYERS, "style layers", "losses",
        several=True, metavar="LAYER")
    style_layer_weights: tuple[float, ...] | None = setting(
        None, "one weight per style layer (default: 1/number of style layers each)", "losses", several=True,
        metavar="W", show_default=False)
    style_blend_weights: tuple[float, ...] | None = setting(
        None, "with several STYLE images, one weight each, normalised to sum to 1 (default: equal)", "losses",
        several=True, metavar="W", show_default=False)
    content_mask: str | None = setting(
        None, "greyscale image, resized to the output: style applies in proportion to its whiteness, the content is "
        "kept where it is black", "losses", metavar="FILE", show_default=False)
    style_masks: tuple[str, ...] | None = setting(
        None, "one greyscale mask per STYLE: each style paints the region where its mask is white", "losses",
        several=True, metavar="FILE", show_default=False)
    content_weight: float = setting(1.0, "weight of the content loss", "losses")
    style_weight: float = setting(1e3, "weight of the style loss", "losses")
    # Relative to the preset's balance, so that one number means the same at every preset and network; the absolute
    # weight is worked out once, in run/assemble.py's loss_spec (folding it in here would multiply it again each
    # time a recorded Settings is rebuilt with from_options: the batch runner's resume, a sidecar's settings).
    style_strength: float = setting(
        1.0, "multiplies the style weight, the preset's or the one given with --style-weight: 2 = twice the style, "
        "0.5 = half (the web page's Style strength slider); the sidecar's term_weights records the weight used",
        "losses", metavar="X")
    tv_weight: float = setting(0.0, "weight of the total-variation smoothness loss", "losses")
    stroke_scale: str | int | None = setting(
        None, "paint the painting's strokes at this picture size too: the style is also matched on a copy of the "
        "output halved down to about PX on its longest side (an octave), against the same octave of the painting, "
        "so that a large output keeps the strokes a preview of PX shows; off (or 0): none",
        "losses", metavar="PX/off")
    stroke_octaves: str = setting(
        "coarsest", "with --stroke-scale: which octaves carry the style: coarsest = only the one nearest PX; all = "
        "every halving down to it (Snelgrove 2017), the --octave-weight shared among them", "losses",
        choices=STROKE_OCTAVES)
    octave_weight: float = setting(
        0.15, "with --stroke-scale: the weight of the octaves' style together, relative to the full size's (the "
        "style weight times --style-strength); 1 = the octaves count as much as the full size does (0.15 keeps the "
        "photograph within 1.3x of the preview's, benchmarks/RESULTS.md)", "losses")
    temporal_weight: float = setting(
        3e10, "video only (keras-style video): weight of the temporal loss, which holds each frame to the "
        "previous frame's output carried along the optical flow where the pixel stays visible (Ruder et al. 2016); "
        "a mean over pixels, chosen by benchmarks/video.py",
        "losses")
    balance: str = setting(
        "output", "what the loss weights mean: output = the weight of each term's value at the output size, as the "
        "paper and the articles weigh their sums (coarse scales balanced as the output is); per-pixel = the weight "
        f"at {BALANCE_REFERENCE_PIXELS:,} px (512 x 384), carried to any size by how each term grows with the "
        "pixels, so one set of weights paints the same balance at every --size",
        "losses", choices=BALANCES)
    tv_form: str = setting("articles", "total variation: articles = sum of ((dx^2 + dy^2)^1.25), as articles "
                           "001-003; squared = sum of dx^2 + dy^2 (jcjohnson/neural-style, crowsonkb); laplacian = "
                           "sum of the squared nine-point Laplacian, which damps a one-pixel grain and spares broad "
                           "strokes", "losses", choices=TV_FORMS)
    style_loss: str = setting(
        "gram", "style statistics: gram = Gatys et al.'s squared Gram distance; w2 = the squared Wasserstein-2 "
        "distance between Gaussian fits (mean, covariance) of the features (crowsonkb 2023; another scale: retune "
        "--style-weight; no masks)", "losses", choices=STYLE_LOSSES)
    normalization: str = setting("paper", "Gram loss scale per layer of N channels and M positions: paper = "
                                 "1/(4 N^2 M^2); keras-example = N=3, M=image pixels; johnson = 1/(N^4 M^2), "
                                 "jcjohnson/neural-style's", "losses", choices=NORMALIZATIONS)
    optimizer: str = setting(
        "lbfgs", "auto (painterly's: lbfgs-device on a GPU and on a CPU, where it reaches scipy's judged quality "
        "at the same evaluations in less time; lbfgs with the articles' --outer-iterations loop; the sidecar records "
        "the choice and why), lbfgs (scipy L-BFGS-B on the host, the articles' optimiser), "
        "lbfgs-device (L-BFGS with a backtracking line search as one compiled step per iteration on the device: no "
        "host work per iteration), gd (x <- x - lr*grad, article 004) or adam; gd and adam also run as compiled steps",
        "optimisation", choices=tuple(OPTIMIZERS))
    iterations: int = setting(500, "loss-and-gradient evaluations (lbfgs) or steps (gd, adam)", "optimisation")
    outer_iterations: int | None = setting(
        None, "restart L-BFGS K times with --maxfun each, as the articles' loop does", "optimisation", metavar="K",
        show_default=False)
    maxfun: int | None = setting(None, "evaluations per restart with --outer-iterations (20)", "optimisation",
                                    metavar="M", show_default=False)
    learning_rate: float | None = setting(
        None, "step size: adam default 10 (pixel levels); gd default: the rate whose first step moves pixels 5 "
        "levels on average, then fixed", "optimisation", show_default=False)
    lr_decay: float = setting(1.0, "multiply the gd/adam step by this every --lr-decay-steps", "optimisation")
    lr_decay_steps: int = setting(100, "steps between learning-rate decays", "optimisation")
    average_iterates: float = setting(
        0.0, "gd and adam: keep an exponential moving average of the iterates with this decay (crowsonkb: 0.99); "
        "the budget's last evaluation scores the average, which the run keeps if its loss is the lowest; 0: off",
        "optimisation", metavar="DECAY")
    init: str = setting("content", f"start image: {', '.join(INITS)} (mean: the ImageNet mean colour with 1e-3 noise, "
                        "as jcjohnson/neural-style starts; palette: the content recoloured to the style's colour mean "
                        "and covariance), or an image file", "optimisation")
    lbfgs_memory: int = setting(10, "L-BFGS history: the curvature pairs lbfgs keeps (scipy's default 10; "
                                "jcjohnson/neural-style and neural-style-pt keep 100)", "optimisation", metavar="M")
    seed: int | None = setting(
        None, "random seed: the same seed, machine and thread counts (OPENBLAS_NUM_THREADS for scipy) give a "
        "byte-identical output", "optimisation", show_default=False)
    mode: str = setting("cached", "cached: targets computed once (fast); concat: [content, style, generated] "
                        "through VGG at every evaluation, as the articles do", "optimisation", choices=tuple(MODES))
    scales: int = setting(
        1, "multi-scale: optimise at --size/sqrt(2)^(N-1) first, upsample, continue up to --size; the coarser sizes "
        "share the evaluations as --scale-budget says", "optimisation", metavar="N")
    scale_budget: str = setting(
        "coarse", "how --scales shares --iterations: coarse = the coarser sizes 60%% (each twice the next finer "
        "one's), the final size 40%%; equal = the same number at every size (crowsonkb)", "optimisation",
        choices=SCALE_BUDGETS)
    scale_start: str = setting(
        "upsampled", "what each finer --scales size starts from: upsampled = the coarser result resized; detail = that "
        "plus the photograph's luminance detail the resizing lost (its fine edges, which the coarse sizes cannot "
        "hold)", "optimisation", choices=SCALE_STARTS)
    frame_iterations: int | None = setting(
        None, "video only: evaluations of each frame after the first, which starts from the previous frame's result "
        "carried along the optical flow, at --size in one scale (default: half of --iterations, as Ruder et al. "
        "give later frames half the first's)", "optimisation", metavar="N", show_default=False)
    min_improvement: float | None = setting(
        None, "early stop: end a scale when its best total loss fell by less than this fraction over the last "
        "--patience evaluations (e.g. 0.001), the budget a ceiling; a coarser scale of --scales needs a fall in "
        "proportion to its pixels (its evaluations cost that much less); 0: run the whole budget",
        "optimisation", metavar="R",
        show_default=False)
    patience: int = setting(50, "evaluations over which --min-improvement is measured", "optimisation", metavar="N")
    jit_compile: bool | None = setting(
        None, "compile the loss step with XLA (default: chosen with the precision: on for GPUs, off for bfloat16 on "
        "a CPU, and in float32 on a CPU only when the budget pays its compile time back)", "optimisation",
        flag="--xla", boolean=True, show_default=False)
    precision: str = setting(
        "auto", "network compute: auto picks bfloat16 where the device has bfloat16 units (a GPU of compute "
        "capability 8.0+, a CPU with AMX or AVX512-BF16) and float32 elsewhere; mixed is bfloat16 network compute "
        "with float32 losses; the sidecar records the choice and why", "optimisation", choices=PRECISIONS)

    @classmethod
    def from_options(cls, preset: str | None = None, **options: Any) -> Settings:
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

    def validated(self) -> Settings:
        """Check every value and normalise layer names to Keras names; raises UserError."""
        for declared in declared_settings():
            choices = declared.metadata["option"].choices
            if choices is not None:
                _choice(declared.name.replace("_", "-"), getattr(self, declared.name), choices)
        if self.init not in INITS and not os.path.exists(str(self.init)):
            raise UserError(f"--init must be one of {', '.join(INITS)} or an image file; {self.init!r} is neither")
        _positive_int("size", self.size)
        _positive_int("iterations", self.iterations)
        _positive_int("lr-decay-steps", self.lr_decay_steps)
        _positive_int("scales", self.scales)
        _positive_int("patience", self.patience)
        _positive_int("lbfgs-memory", self.lbfgs_memory)
        tile_size = _tile_size(self.tile_size)
        if self.min_improvement is not None:
            _non_negative("min-improvement", self.min_improvement)
        if self.outer_iterations is not None:
            _positive_int("outer-iterations", self.outer_iterations)
        if self.maxfun is not None:
            _positive_int("maxfun", self.maxfun)
        if self.frame_iterations is not None:
            _positive_int("frame-iterations", self.frame_iterations)
        stroke_scale = _stroke_scale(self.stroke_scale)
        self._check_term_weights()
        _positive("style-scale", self.style_scale)
        _positive("lr-decay", self.lr_decay)
        if not (isinstance(self.average_iterates, (int, float)) and 0.0 <= self.average_iterates < 1.0):
            raise UserError(f"--average-iterates must be a decay from 0 (off) to below 1, got "
                            f"{self.average_iterates!r}")
        if self.average_iterates and self.optimizer not in AVERAGED_OPTIMIZERS:
            raise UserError(f"--average-iterates needs --optimizer {' or '.join(AVERAGED_OPTIMIZERS)}")
        if self.learning_rate is not None:
            _positive("learning-rate", self.learning_rate)
        if self.seed is not None and not (isinstance(self.seed, int) and 0 <= self.seed < 2**32):
            raise UserError(f"--seed must be an integer from 0 to 2**32-1, got {self.seed!r}")
        content_layers = resolve_layers(_as_list(self.content_layers), self.network)
        style_layers = resolve_layers(_as_list(self.style_layers), self.network)
        layer_weights = _weights("style-layer-weights", self.style_layer_weights)
        if layer_weights is not None and len(layer_weights) != len(style_layers):
            raise UserError(
                f"--style-layer-weights has {len(layer_weights)} values for {len(style_layers)} style layers"
            )
        blend_weights = _weights("style-blend-weights", self.style_blend_weights)
        if blend_weights is not None and not sum(blend_weights) > 0:
            raise UserError("--style-blend-weights are all zero; at least one style must count")
        style_masks = None if self.style_masks is None else tuple(str(mask) for mask in _as_list(self.style_masks))
        masked = self.content_mask is not None or bool(style_masks)
        if masked and self.style_loss not in REGIONAL_STYLE_LOSSES:
            raise UserError(f"--style-loss {self.style_loss} paints the whole image: masks need --style-loss "
                            f"{' or '.join(REGIONAL_STYLE_LOSSES)}")
        if MODES[self.mode].whole_images_only:
            self._check_whole_images(tile_size, masked)
        return replace(
            self, content_layers=content_layers, style_layers=style_layers, style_layer_weights=layer_weights,
            style_blend_weights=blend_weights, style_masks=style_masks, tile_size=tile_size, stroke_scale=stroke_scale,
        )

    def _check_term_weights(self) -> None:
        """Every term's weight finite, >= 0 and within float32's range; the style strength > 0, and the style weight
        it gives (assemble.loss_spec's product) within float32's range too."""
        for name in term_weight_settings():
            _non_negative(name.replace("_", "-"), getattr(self, name))
            _representable(name.replace("_", "-"), getattr(self, name))
        _positive("style-strength", self.style_strength)
        if self.style_weight * self.style_strength > FLOAT32_MAX:
            raise UserError(f"--style-weight {self.style_weight:g} x --style-strength {self.style_strength:g} is "
                            f"beyond float32's range ({FLOAT32_MAX:.3g}), in which the losses are computed; use a "
                            "smaller value")

    def _check_whole_images(self, tile_size: int | str, masked: bool) -> None:
        """A mode whose batch holds one whole content and style image (concat) has no tiles, masks or style scale."""
        mode = f"--mode {self.mode}"
        if isinstance(tile_size, int):
            raise UserError(f"--tile-size needs --mode cached: {mode} computes its targets from whole images")
        if self.style_scale != 1.0:
            raise UserError(f"--style-scale needs --mode cached: {mode} resizes the style to the content")
        if masked:
            raise UserError(f"masks need --mode cached: {mode} has no per-region style targets")

    def check_masks(self, styles: int) -> None:
        """One style mask per style image (UserError otherwise)."""
        if self.style_masks is not None and len(self.style_masks) != styles:
            raise UserError(f"--style-masks has {len(self.style_masks)} masks for {styles} style images")

    def blend_weights(self, styles: int) -> tuple[float, ...]:
        """Each style's share of the style targets (normalised to sum to 1); equal unless given. Raises UserError
        when the number of weights is not the number of styles, or several styles meet the concat path."""
        if styles > 1 and MODES[self.mode].whole_images_only:
            raise UserError(f"several styles need --mode cached: --mode {self.mode} has room for one style image")
        weights = self.style_blend_weights or (1.0,) * styles
        if len(weights) != styles:
            raise UserError(f"--style-blend-weights has {len(weights)} values for {styles} style images")
        return tuple(weight / sum(weights) for weight in weights)

    @property
    def feature_layers(self) -> tuple[str, ...]:
        """Content and style layers without repeats, in the order the feature model returns them."""
        return feature_layers(self.content_layers, self.style_layers)

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
        return evaluation_budget(self.optimizer, self.iterations, self.outer_iterations, self.maxfun)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def declared_settings() -> list[Field]:
    """The Settings fields, each with its command-line declaration (metadata["option"])."""
    return [declared for declared in fields(Settings) if "option" in declared.metadata]


# The setting that holds a loss term's weight: NAME_weight for the term registered as NAME (engine/terms.py reads
# it; tests/test_terms.py checks that every registered term has one and every such setting has a term).
TERM_WEIGHT_SUFFIX = "_weight"


def term_weight_settings() -> list[str]:
    """The names of the settings that weigh a loss term (content_weight, style_weight, ...)."""
    return [declared.name for declared in declared_settings() if declared.name.endswith(TERM_WEIGHT_SUFFIX)]


def flag(declared: Field) -> str:
    """The command-line flag of a setting: --content-weight for content_weight, unless declared otherwise."""
    return declared.metadata["option"].flag or "--" + declared.name.replace("_", "-")


def _as_list(value: Any) -> list:
    """'a,b c' or ['a,b', 'c'] -> ['a', 'b', 'c']; numbers pass through."""
    items = [value] if isinstance(value, str) else list(value)
    parts: list = []
    for item in items:
        parts.extend(item.replace(",", " ").split() if isinstance(item, str) else [item])
    return parts


def _weights(name: str, value: Any) -> tuple[float, ...] | None:
    """A list of weights given as numbers or text: finite, >= 0 and within float32's range."""
    if value is None:
        return None
    try:
        weights = tuple(float(weight) for weight in _as_list(value))
    except (TypeError, ValueError):
        raise UserError(f"--{name} must be numbers, got {value!r}") from None
    for weight in weights:
        _non_negative(name, weight)
        _representable(name, weight)
    return weights


# Smaller tiles hold too little of the picture for VGG's deeper layers (block5 sees 16 px per position).
MIN_TILE_SIZE = 64
# The smallest octave worth matching: VGG's deeper style layers have few positions left below it.
MIN_STROKE_SCALE = 64
TILE_SIZE_WORDS = ("auto", "off")


def _tile_size(value: Any) -> int | str:
    """--tile-size: 'auto', 'off' or a whole number of pixels >= MIN_TILE_SIZE (the output-size bound is checked
    once the output's size is known, loading.sized_images)."""
    if isinstance(value, str) and value.strip().lower() in TILE_SIZE_WORDS:
        return value.strip().lower()
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise UserError(f"--tile-size must be auto, off or a number of pixels, got {value!r}") from None
    if isinstance(value, bool) or size != value and str(size) != str(value).strip() or size < MIN_TILE_SIZE:
        raise UserError(f"--tile-size must be a whole number of pixels >= {MIN_TILE_SIZE}, auto or off, got {value!r}")
    return size


def _stroke_scale(value: Any) -> int | None:
    """--stroke-scale: a whole number of pixels >= MIN_STROKE_SCALE, or off: 0 (not None, which a recorded
    Settings rebuilt by from_options would take for "not given" and replace by the preset's), or None unset."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == "off":
        return 0
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = None
    if size is None or isinstance(value, bool) or str(size) != str(value).strip() or 0 < size < MIN_STROKE_SCALE \
            or size < 0:
        raise UserError(f"--stroke-scale must be a whole number of pixels >= {MIN_STROKE_SCALE} or off, got "
                        f"{value!r}")
    return size


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"unknown {name} {value!r}; choose from {', '.join(map(str, choices))}")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UserError(f"--{name} must be a positive integer, got {value!r}")


def _non_negative(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise UserError(f"--{name} must be a finite number >= 0, got {value!r}")


# The losses are computed in float32: a larger weight would be infinite before the first evaluation.
FLOAT32_MAX = 3.4028234663852886e38


def _representable(name: str, value: float) -> None:
    if value > FLOAT32_MAX:
        raise UserError(f"--{name} {value:g} is beyond float32's range ({FLOAT32_MAX:.3g}), in which the losses are "
                        "computed; use a smaller value")


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise UserError(f"--{name} must be a finite number > 0, got {value!r}")
