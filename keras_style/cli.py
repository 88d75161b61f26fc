"""The command line: `keras-style CONTENT STYLE OUTPUT [options]` (also scripts/transfer.py, python -m keras_style).

Exit codes: 0 success, 1 internal failure, 2 bad input or usage, 130 interrupted (best image saved).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional, Sequence

# TensorFlow reads this when it loads; quiet its C++ start-up chatter unless the user asked otherwise.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from . import __version__  # noqa: E402
from .compute import PRECISIONS  # noqa: E402
from .errors import Interrupted, UserError  # noqa: E402
from .presets import PRESETS  # noqa: E402
from .settings import OPTIMIZERS  # noqa: E402

PROGRAM = "keras-style"


def _process_started_at() -> float:
    """time.perf_counter() at this process's start (Linux /proc), else now: start-up is timed from there."""
    now = time.perf_counter()
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            seconds_up = float(uptime.read().split()[0])
        age = seconds_up - start_ticks / os.sysconf("SC_CLK_TCK")
        return now - age if 0 <= age < 60 else now
    except (OSError, ValueError, IndexError):
        return now


PROCESS_STARTED_AT = _process_started_at()
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

DESCRIPTION = """\
Paint CONTENT in the style of STYLE with the Gatys et al. algorithm (VGG16/VGG19 in Keras 3) and write OUTPUT.

Inputs: any image Pillow reads (JPEG, PNG, WebP, TIFF, GIF first frame; greyscale, palette, CMYK, 16-bit);
EXIF orientation is honoured; transparent pixels are composited onto white before use (VGG has no alpha).
Settings start from a preset (default 'gatys'); every option given here overrides the preset's value.
Beside OUTPUT a JSON sidecar (out.png -> out.json) records settings, versions, sizes, time and losses."""

EPILOG = """\
weights: 'imagenet' looks for vgg16_*.h5 / vgg19_*.h5 in $KERAS_STYLE_WEIGHTS_DIR, then uses Keras's download
and cache (~/.keras/models); 'none' gives random weights (tests only); anything else is an .h5 file path.
exit codes: 0 done, 2 bad input or usage, 130 interrupted (Ctrl-C/SIGTERM save the best image so far), 1 other.
examples:
  keras-style examples/content.png examples/style.png out.png
  keras-style photo.jpg painting.jpg out.jpg --preset article-001 --size 256
  keras-style photo.jpg painting.jpg out.png --network vgg16 --style-layers conv1_2 conv2_2 --iterations 300"""


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, exit 2 (argparse would print the whole usage first)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog=PROGRAM, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("content", nargs="?", help="the photograph whose layout is kept")
    parser.add_argument("style", nargs="?", help="the painting whose texture and colours are copied")
    parser.add_argument("output", nargs="?", help="result file; its extension picks the format (png, jpg, tiff, webp)")

    run = parser.add_argument_group("preset and network")
    run.add_argument("--preset", help="named settings to start from (default gatys); see --list-presets")
    run.add_argument("--list-presets", action="store_true", help="print the presets and what each reproduces, then exit")
    run.add_argument("--network", choices=("vgg16", "vgg19"), help="feature network (gatys: vgg19)")
    run.add_argument("--weights", help="imagenet (default), none, or a path to a Keras .h5 weights file")
    run.add_argument("--pooling", choices=("max", "avg"), help="max (Keras VGG) or avg (the paper, article 000)")

    size = parser.add_argument_group("sizes")
    size.add_argument("--size", type=int, help="output size in px: the longest side (gatys: 512)")
    size.add_argument("--resize", choices=("longest", "height", "square"),
                      help="what --size sets: the longest side, the height (articles 002/003), or a square (001)")
    size.add_argument("--style-scale", type=float,
                      help="style's longest side as a multiple of the output's (default 1.0; cached mode only)")

    loss = parser.add_argument_group("losses")
    loss.add_argument("--content-layers", nargs="+", metavar="LAYER",
                      help="content layers, Keras (block4_conv2) or paper (conv4_2) names (gatys: conv4_2)")
    loss.add_argument("--style-layers", nargs="+", metavar="LAYER",
                      help="style layers (gatys: conv1_1 conv2_1 conv3_1 conv4_1 conv5_1)")
    loss.add_argument("--style-layer-weights", nargs="+", metavar="W",
                      help="one weight per style layer (default: 1/number of style layers each)")
    loss.add_argument("--content-weight", type=float, help="weight of the content loss (gatys: 1)")
    loss.add_argument("--style-weight", type=float, help="weight of the style loss (gatys: 1e3)")
    loss.add_argument("--tv-weight", type=float, help="weight of the total-variation smoothness loss (gatys: 0)")
    loss.add_argument("--normalization", choices=("paper", "keras-example"),
                      help="Gram loss scale: paper = 1/(4 N^2 M^2) per layer; keras-example = N=3, M=image pixels")

    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--optimizer", choices=OPTIMIZERS,
                     help="lbfgs (scipy L-BFGS-B on the host, the articles' optimiser), lbfgs-device (L-BFGS as one "
                          "compiled step per evaluation on the device, no line search: no host work per iteration), "
                          "gd (x <- x - lr*grad, article 004) or adam; gd and adam also run as compiled steps")
    opt.add_argument("--iterations", type=int,
                     help="loss-and-gradient evaluations (lbfgs) or steps (gd, adam) (gatys: 500)")
    opt.add_argument("--outer-iterations", type=int, metavar="K",
                     help="restart L-BFGS K times with --maxfun each, as the articles' loop does")
    opt.add_argument("--maxfun", type=int, metavar="M", help="evaluations per restart with --outer-iterations (20)")
    opt.add_argument("--learning-rate", type=float, help="step size: adam default 10 (pixel levels); gd default: the rate whose first "
                          "step moves pixels 5 levels on average, then fixed")
    opt.add_argument("--lr-decay", type=float, help="multiply the gd/adam step by this every --lr-decay-steps (1)")
    opt.add_argument("--lr-decay-steps", type=int, help="steps between learning-rate decays (100)")
    opt.add_argument("--init", help="start image: content (default), noise, white, style, or an image file")
    opt.add_argument("--seed", type=int, help="random seed: same seed and machine give a byte-identical output")
    opt.add_argument("--mode", choices=("cached", "concat"),
                     help="cached: targets computed once (fast, default); concat: [content, style, generated] "
                          "through VGG at every evaluation, as the articles do")
    opt.add_argument("--scales", type=int, metavar="N",
                     help="multi-scale: optimise at --size/sqrt(2)^(N-1) first, upsample, continue up to --size; the "
                          "coarser sizes share 60%% of the evaluations (each twice the next finer one's), the final "
                          "size 40%% (default 1: --size only)")
    opt.add_argument("--xla", dest="jit_compile", action=argparse.BooleanOptionalAction, default=None,
                     help="compile the loss step with XLA (default: chosen with the precision: on for GPUs, off for "
                          "bfloat16 on a CPU, and in float32 on a CPU only when the budget pays its compile time back)")
    opt.add_argument("--precision", choices=PRECISIONS,
                     help="network compute: auto (default) picks bfloat16 where the device has bfloat16 units (a GPU "
                          "of compute capability 8.0+, a CPU with AMX or AVX512-BF16) and float32 elsewhere; mixed "
                          "is bfloat16 network compute with float32 losses; the sidecar records the choice and why")

    out = parser.add_argument_group("output")
    out.add_argument("--save-every", type=int, metavar="N", default=0,
                     help="also save the best image every N evaluations beside OUTPUT (out_0025.png)")
    out.add_argument("--force", action="store_true", help="overwrite OUTPUT and its sidecar if they exist")
    out.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    out.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


SETTING_OPTIONS = (
    "preset", "network", "weights", "pooling", "size", "resize", "style_scale", "content_layers", "style_layers",
    "style_layer_weights", "content_weight", "style_weight", "tv_weight", "normalization", "optimizer",
    "iterations", "outer_iterations", "maxfun", "learning_rate", "lr_decay", "lr_decay_steps", "init", "seed",
    "mode", "jit_compile", "scales", "precision",
)


def settings_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options the user gave, as Settings keyword arguments (None = take the preset's)."""
    return {name: getattr(args, name) for name in SETTING_OPTIONS}


def list_presets() -> str:
    lines = []
    for preset in PRESETS.values():
        lines.append(f"{preset.name}\n  reproduces: {preset.reproduces}")
        if preset.differences:
            lines.append(f"  differs: {preset.differences}")
    return "\n".join(lines)


def _fail(message: str, code: int) -> int:
    print(f"{PROGRAM}: error: {message}", file=sys.stderr)
    return code


def _install_signal_handlers(stop_event: threading.Event) -> None:
    def request_stop(signum, frame):  # noqa: ARG001 - signal handler signature
        if stop_event.is_set():
            raise KeyboardInterrupt  # a second signal stops at once
        stop_event.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


def _import_backend_quietly() -> None:
    """Load TensorFlow with stderr closed: on CPUs where oneDNN's custom operations are on it writes log lines to
    stderr before its log level applies, which would break the one-line messages this command promises."""
    from .network import import_backend

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import_backend()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def run(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_presets:
        print(list_presets())
        return EXIT_OK
    if not (args.content and args.style and args.output):
        return _fail("CONTENT, STYLE and OUTPUT are required (see --help)", EXIT_USAGE)
    if args.save_every < 0:
        return _fail(f"--save-every must be >= 0, got {args.save_every}", EXIT_USAGE)

    from .outputs import check_output, save_image, save_json, sidecar, sidecar_path, snapshot_path
    from .settings import Settings
    from .transfer import prepare_images

    output = Path(args.output)
    settings = Settings.from_options(**settings_options(args))
    check_output(output, args.force)
    prepare_images(args.content, args.style, settings)  # every input problem surfaces before TensorFlow loads

    _import_backend_quietly()
    from .images import deprocess
    from .transfer import stylize_result

    stop_event = threading.Event()
    _install_signal_handlers(stop_event)

    def snapshot(evaluation: int, best_image) -> None:
        save_image(deprocess(best_image), snapshot_path(output, evaluation))

    try:
        result = stylize_result(
            args.content, args.style, settings=settings, progress=not args.quiet, stop_event=stop_event,
            snapshot=snapshot if args.save_every else None, snapshot_every=args.save_every,
            started_at=PROCESS_STARTED_AT,
        )
    except Interrupted:
        return _fail("interrupted before the first evaluation; nothing written", EXIT_INTERRUPTED)
    save_image(result.image, output)
    save_json(sidecar(result, output), sidecar_path(output))
    if result.interrupted:
        print(f"{PROGRAM}: interrupted after {result.evaluations} evaluations; best image so far saved to {output}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        final = result.losses["final"]["total"]
        print(f"wrote {output} ({result.evaluations} evaluations in {result.seconds:.1f} s, final loss {final:.4g})")
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: one-line errors, never a traceback (set KERAS_STYLE_DEBUG=1 to see one)."""
    try:
        return run(argv)
    except UserError as error:
        return _fail(str(error), EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except MemoryError:
        return _fail("out of memory: try a smaller --size or --mode cached", EXIT_FAILURE)
    except Exception as error:  # one line for the user; the traceback on request
        if os.environ.get("KERAS_STYLE_DEBUG"):
            raise
        reason = (str(error).strip().splitlines() or [""])[0]
        return _fail(f"{type(error).__name__}: {reason} (set KERAS_STYLE_DEBUG=1 for details)", EXIT_FAILURE)


if __name__ == "__main__":
    sys.exit(main())
