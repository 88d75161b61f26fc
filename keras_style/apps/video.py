"""`keras-style video INPUT STYLE [STYLE ...] OUTPUT [options]`: a clip stylized frame by frame without flicker.

Input and output go through keras_style/files/video.py (PyAV), the frames through keras_style/run/video.py (optical
flow, the flow-carried start, the temporal term). While it runs, each finished frame is a PNG in the frames folder
(OUTPUT.frames/ beside a video OUTPUT, OUTPUT itself for a folder) and the clip's sidecar (OUTPUT.json, or
OUTPUT/clip.json) records it; the video is encoded from those PNGs at the end, with the input's sound.

Exit codes: 0 done, 2 bad usage (one line, nothing written), 130 interrupted (run the same command to resume),
1 other failures.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from keras_style.apps.options import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    VERSION,
    VIDEO_PROGRAM,
    OneLineParser,
    add_settings,
    guarded_main,
    settings_options,
)
from keras_style.config.settings import GROUPS, Settings
from keras_style.errors import Interrupted, UserError

PROGRAM = VIDEO_PROGRAM
# The clip's sidecar inside a folder OUTPUT.
FOLDER_SIDECAR = "clip.json"

DESCRIPTION = """\
Stylize a video (mp4, webm, mov, mkv, avi, gif) or a folder of frames (natural order: frame2 before frame10) in the
style of STYLE (several are blended, as for one image), into OUTPUT: a video file of the same frame rate, with the
input's sound where the format can hold it, or a folder of PNG frames.

The first frame is stylized as a single image. Each later frame starts from the previous result carried along the
optical flow between the input frames (OpenCV's DIS, both ways), with the pixels the flow cannot trust (uncovered,
motion boundaries: Ruder et al.'s consistency check) started as a first frame is (--init), and a temporal loss holds
it to that carried result where the flow is reliable (--temporal-weight), after Ruder, Dosovitskiy and Brox (2016).
Frames are read and written one at a time. A stopped or killed run resumes at its first unfinished frame when the
same command is run again. Every option of the single-image command applies."""

EPILOG = """\
exit codes: 0 done, 2 bad usage (one line, nothing written), 130 interrupted (run the same command again to
resume), 1 other failures.
examples:
  keras-style video examples/demo_clip.mp4 examples/style.jpg outputs/demo_clip.mp4 --size 256
  keras-style video frames/ starry.jpg stylized/ --frame-iterations 100 --temporal-weight 1e12"""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROGRAM, description=DESCRIPTION, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", metavar="INPUT STYLE [STYLE ...] OUTPUT",
                        help="the clip (video file or folder of frames), one or more style images, and the output "
                             "(video file, or folder of frames)")
    clip = parser.add_argument_group("clip")
    clip.add_argument("--fps", type=Fraction, metavar="RATE",
                      help="frame rate of a folder INPUT (default: 12); a video keeps its own")
    clip.add_argument("--force", action="store_true",
                      help="start over: replace OUTPUT, and the frames and sidecar of an earlier run with other "
                           "settings (default: resume a run with the same settings, refuse anything else)")
    add_settings({name: parser.add_argument_group(name) for name in GROUPS})
    out = parser.add_argument_group("output")
    out.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    out.add_argument("--version", action="version", version=VERSION)
    return parser


def places(output: Path) -> tuple[Path, Path, bool]:
    """(the frames folder, the clip's sidecar, whether OUTPUT is a video file) for OUTPUT."""
    from keras_style.files.video import VIDEO_SUFFIXES

    if output.suffix.lower() in VIDEO_SUFFIXES:
        return output.with_suffix(".frames"), output.with_suffix(".json"), True
    return output, output / FOLDER_SIDECAR, False


def identity(input_path: Path, styles: Sequence[str], settings: Settings) -> dict[str, Any]:
    """What a resumed run must match: the input's and the styles' bytes, and the settings."""
    from keras_style.apps.jobs import fingerprint, settings_record

    if input_path.is_dir():
        from keras_style.apps.jobs import expand

        source = [fingerprint(str(frame)) for frame in expand([str(input_path)], "frames")]
    else:
        source = fingerprint(str(input_path))
    return {"input_sha256": source, "styles_sha256": [fingerprint(style) for style in styles],
            "settings": settings_record(settings)}


def recorded_identity(sidecar: Path) -> Any:
    """The identity an earlier run recorded in the clip's sidecar (None: no readable sidecar)."""
    try:
        return json.loads(sidecar.read_text(encoding="utf-8")).get("identity")
    except (OSError, ValueError, AttributeError):
        return None


class FrameBar:
    """One tqdm bar over the frames, with the current frame's evaluations in its postfix."""

    def __init__(self, total: int | None, done: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, desc="frames", unit="frame", dynamic_ncols=True,
                        disable=not enabled, file=sys.stderr)

    def evaluation(self, event) -> None:
        self.bar.set_postfix_str(f"frame {self.bar.n + 1}: evaluation {event.evaluation}/{event.total}",
                                 refresh=event.evaluation % 5 == 0)

    def frame(self, done) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def run(argv: Sequence[str]) -> int:
    try:
        args = build_parser().parse_intermixed_args(argv)
    except SystemExit as exit_:  # --help, --version (0) or a usage error, already printed as one line (2)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if len(args.files) < 3:
        raise UserError("INPUT, STYLE and OUTPUT are required (see --help)")
    input_path, styles, output = Path(args.files[0]), args.files[1:-1], Path(args.files[-1])
    if args.fps is not None and not args.fps > 0:
        raise UserError(f"--fps must be above 0, got {args.fps}")

    from keras_style.files.video import DEFAULT_FPS, check_clip_output, open_clip
    from keras_style.run.video import check_frames, finished_frames

    settings = Settings.from_options(**settings_options(args))
    clip = open_clip(input_path, folder_fps=args.fps or DEFAULT_FPS)  # not a video, no frames, no decoder, sizes
    check_frames(clip.size, styles, settings)  # the styles, masks, memory and tiles, before TensorFlow loads
    folder, sidecar, encoded = places(output)
    if output.resolve() == input_path.resolve() or folder.resolve() == input_path.resolve():
        raise UserError(f"OUTPUT {str(output)!r} is the INPUT")
    key = identity(input_path, styles, settings)
    same_run = not args.force and recorded_identity(sidecar) == key
    if sidecar.exists() and not same_run and not args.force:
        raise UserError(f"{str(sidecar)!r} records another run (other input, styles or settings); --force starts "
                        "over")
    # before the first frame: a format that cannot be written, a missing folder, an earlier run's files (a resumed
    # run's own frames are not in the way)
    check_clip_output(output, force=args.force or (same_run and not encoded))
    resumed = finished_frames(sidecar, key, folder) if same_run else []
    if args.force:
        for stale in [sidecar, *(folder.glob("frame_*.png") if folder.is_dir() else [])]:
            stale.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)

    from keras_style.apps.callbacks import StopOnSignal
    from keras_style.engine.backend import import_backend_quietly
    from keras_style.run.video import stylize_clip

    stop = StopOnSignal().install()
    import_backend_quietly()
    bar = FrameBar(clip.frames, len(resumed), enabled=not args.quiet)
    extra = {"input": str(input_path), "styles": list(styles), "output": str(output)}
    try:
        records, note = stylize_clip(clip, styles, settings, output, folder, sidecar, key,
                                     callback=[bar.evaluation, stop], on_frame=bar.frame, extra=extra)
    except Interrupted:
        bar.close()
        print(f"{PROGRAM}: interrupted: {len(finished_frames(sidecar, key, folder))} frames finished in {folder}; "
              "run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    bar.close()
    if note:
        print(f"{PROGRAM}: {note}", file=sys.stderr)
    if not args.quiet:
        seconds = sum(record["seconds"] for record in records[len(resumed):])
        print(f"wrote {output} ({len(records)} frames, {len(records) - len(resumed)} stylized in {seconds:.1f} s"
              + (f", {len(resumed)} resumed" if resumed else "") + f"; frames in {folder}, sidecar {sidecar})")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """`keras-style video ...`: one-line errors, never a traceback (options.guarded_main)."""
    return guarded_main(PROGRAM, run, argv)


if __name__ == "__main__":
    sys.exit(main())
