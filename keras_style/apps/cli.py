"""The command line: `keras-style CONTENT STYLE OUTPUT [options]` (also scripts/transfer.py, python -m keras_style).

Exit codes: 0 success, 1 internal failure, 2 bad input or usage, 130 interrupted (best image saved).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from keras_style.apps.options import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROGRAM,
    VERSION,
    OneLineParser,
    add_settings,
    list_presets,
    settings_options,
)
from keras_style.config.presets import DEFAULT_PRESET
from keras_style.config.settings import GROUPS
from keras_style.errors import Interrupted, UserError, first_line


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

DESCRIPTION = f"""\
Paint CONTENT in the style of STYLE with the Gatys et al. algorithm (VGG16/VGG19 in Keras 3) and write OUTPUT.

Inputs: any image Pillow reads (JPEG, PNG, WebP, TIFF, GIF first frame; greyscale, palette, CMYK, 16-bit);
EXIF orientation is honoured; transparent pixels are composited onto white before use (VGG has no alpha).
Settings start from a preset (default {DEFAULT_PRESET!r}); every option given here overrides the preset's value.
Beside OUTPUT a JSON sidecar (out.png -> out.json) records settings, versions, sizes, time and losses."""

EPILOG = """\
weights: 'imagenet' looks for vgg16_*.h5 / vgg19_*.h5 in $KERAS_STYLE_WEIGHTS_DIR, then uses Keras's download
and cache (~/.keras/models); 'none' gives random weights (tests only); anything else is an .h5 file path.
exit codes: 0 done, 2 bad input or usage, 130 interrupted (Ctrl-C/SIGTERM save the best image so far), 1 other.
other commands: `keras-style serve --help` (a local web page, extra [web]),
                `keras-style batch --help` (many images, on Ray when installed, extra [batch]),
                `keras-style video --help` (a clip without flicker, extra [video]).
examples:
  keras-style examples/content.jpg examples/style.jpg out.png
  keras-style photo.jpg painting.jpg big.png --size 4096 --tile-size 512
  keras-style photo.jpg painting.jpg out.jpg --preset article-001 --size 256
  keras-style photo.jpg painting.jpg out.png --network vgg16 --style-layers conv1_2 conv2_2 --iterations 300"""


def build_parser() -> argparse.ArgumentParser:
    """The parser: positional files, every declared setting (config/settings.py) by group, then the output options."""
    parser = OneLineParser(
        prog=PROGRAM, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "files", nargs="*", metavar="CONTENT STYLE [STYLE ...] OUTPUT",
        help="the photograph whose layout is kept; the painting whose texture and colours are copied (several: their "
             "styles are blended, see --style-blend-weights); the result file, whose extension picks the format "
             "(png, jpg, tiff, webp)")
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    groups["preset and network"].add_argument(
        "--list-presets", action="store_true", help="print the presets and what each reproduces, then exit")
    add_settings(groups)

    out = parser.add_argument_group("output")
    out.add_argument("--save-every", type=int, metavar="N", default=0,
                     help="also save the best image every N evaluations beside OUTPUT (out_0025.png)")
    out.add_argument("--force", action="store_true",
                     help="overwrite OUTPUT, its sidecar and its snapshots if they exist (keeping their permissions)")
    out.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    out.add_argument("--verbose", action="store_true",
                     help="print each content and style layer's final loss and its share of the total at the end")
    out.add_argument("--version", action="version", version=VERSION)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"{PROGRAM}: error: {message}", file=sys.stderr)
    return code


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    if args.list_presets:
        print(list_presets())
        return EXIT_OK
    if len(args.files) < 3:
        return _fail("CONTENT, STYLE and OUTPUT are required (see --help)", EXIT_USAGE)
    content, styles, output = args.files[0], args.files[1:-1], Path(args.files[-1])
    if args.save_every < 0:
        return _fail(f"--save-every must be >= 0, got {args.save_every}", EXIT_USAGE)

    from keras_style.apps.callbacks import ProgressBar, Snapshots, StopOnSignal
    from keras_style.config.settings import Settings
    from keras_style.files.outputs import check_output, save_result, sidecar, sidecar_path
    from keras_style.run.loading import prepare

    settings = Settings.from_options(**settings_options(args))
    check_output(output, args.force, snapshots=args.save_every > 0)
    prepared = prepare(content, styles, settings)  # every input problem surfaces before TensorFlow loads

    stop = StopOnSignal().install()
    from keras_style.engine.backend import import_backend_quietly

    import_backend_quietly()
    from keras_style.run.assemble import assemble
    from keras_style.run.transfer import run_plan

    plan = assemble(settings, prepared)  # the one plan of this run; nothing after it reads the settings
    if stop.received.is_set():  # Ctrl-C while TensorFlow loaded: stop now, not after the network's build
        return _fail("interrupted before the first evaluation; nothing written", EXIT_INTERRUPTED)
    callbacks = [Snapshots(output, args.save_every, args.force)] if args.save_every else []
    bar = None if args.quiet else ProgressBar(plan.evaluation_budget)
    callbacks += ([bar] if bar else []) + [stop]
    result = None
    try:
        result = run_plan(plan, callbacks, started_at=PROCESS_STARTED_AT)
    except Interrupted:
        return _fail("interrupted before the first evaluation; nothing written", EXIT_INTERRUPTED)
    finally:
        if bar is not None:
            bar.close(finished=result is not None and not result.interrupted)
    written = save_result(result.image, lambda path: sidecar(result, path), output, args.force)
    if written != output:
        print(f"{PROGRAM}: warning: {output} or its sidecar appeared during the run; saved {written} and "
              f"{sidecar_path(written)} beside it instead", file=sys.stderr)
    output = written  # the messages below name the files written
    if result.interrupted:
        print(f"{PROGRAM}: interrupted after {result.evaluations} evaluations; best image so far saved to {output}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.verbose:
        print(weights_line(result.term_weights))
        print(layer_table(result.layer_losses))
    if not args.quiet:
        final = result.losses["final"]["total"]
        ended = {"budget": "", "converged": ", stopped early: converged"}.get(result.stopped, "")
        print(f"wrote {output} ({result.evaluations} evaluations in {result.seconds:.1f} s, final loss {final:.4g}"
              f"{ended})")
    return EXIT_OK


def weights_line(term_weights: dict[str, float]) -> str:
    """The absolute weight of each term the run weighed (the style's with --style-strength applied), as the sidecar's
    term_weights records them."""
    weighed = ", ".join(f"{name} {weight:.4g}" for name, weight in term_weights.items() if weight)
    return f"  term weights (at the --balance reference size): {weighed}"


def layer_table(layer_losses: dict[str, dict[str, dict[str, float]]]) -> str:
    """Each term's final loss per layer and its share of the weighted total, one line each (jcjohnson/neural-style's
    printout), in the order the run's terms are added up."""
    lines = []
    for kind, layers in layer_losses.items():
        for layer, entry in layers.items():
            lines.append(f"  {kind} {layer}: loss {entry['loss']:.4g}, {entry['share']:.1%} of the total")
    return "\n".join(lines)


# `keras-style serve ...`, `batch ...` and `video ...` hand their arguments to these modules' own main().
SUBCOMMANDS = {"serve": "keras_style.apps.web", "batch": "keras_style.apps.batch", "video": "keras_style.apps.video"}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one-line errors, never a traceback (set KERAS_STYLE_DEBUG=1 to see one)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in SUBCOMMANDS:
        import importlib

        return importlib.import_module(SUBCOMMANDS[arguments[0]]).main(arguments[1:])
    # TensorFlow reads this when it loads; quiet its C++ start-up chatter unless the user asked otherwise.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return run(arguments)
    except UserError as error:
        return _fail(str(error), EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except MemoryError:
        return _fail("out of memory: try a smaller --size or --mode cached", EXIT_FAILURE)
    except Exception as error:  # one line for the user; the traceback on request
        if os.environ.get("KERAS_STYLE_DEBUG"):
            raise
        return _fail(f"{type(error).__name__}: {first_line(error)} (set KERAS_STYLE_DEBUG=1 for details)", EXIT_FAILURE)


if __name__ == "__main__":
    sys.exit(main())
