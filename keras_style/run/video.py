"""A video stylized frame by frame, after Ruder, Dosovitskiy and Brox ("Artistic style transfer for videos", 2016).

The first frame is stylized as a single image. Each later frame starts from the previous frame's result carried to
it along the optical flow (run/motion.py), with the pixels the flow cannot trust started from its own --init, and adds
the temporal term (engine/terms.py's TemporalLoss), which holds it to that carried result where the flow is reliable.
Frames stream in one at a time; each result is written as a PNG and recorded in the clip's sidecar as it finishes,
so a killed run resumes at its first unfinished frame and gives the same frames an uninterrupted run gives.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from keras_style.config.settings import Settings
from keras_style.errors import Interrupted
from keras_style.files.colors import grey, luminance
from keras_style.files.images import ImageSource, load_image, resize, to_array
from keras_style.files.outputs import save_image, save_json
from keras_style.files.video import FRAME_NAME
from keras_style.run.loading import Prepared, output_size, prepare
from keras_style.run.monitor import Callbacks
from keras_style.run.motion import motion

# The modes benchmarks/video.py compares: every frame alone, the flow-carried start only, and start plus the term.
MODES = ("independent", "warm", "temporal")


@dataclass(frozen=True)
class FrameDone:
    """A finished frame, as the run reports it (the command line's frame bar, the benchmark)."""

    index: int  # 0-based
    path: Path
    record: dict[str, Any]  # its entry in the clip's sidecar
    image: np.ndarray  # the result, uint8 RGB


def frame_settings(settings: Settings, first: bool, mode: str = "temporal") -> Settings:
    """Every frame runs at the output size in one scale: later frames start from an image at that size, and a
    first frame painted coarse to fine would differ from them in stroke scale (and at small sizes loses the content
    to the style at its coarse scales). The first frame (with mode 'independent', every frame) gets --iterations;
    later frames --frame-iterations (default half the first's)."""
    if first or mode == "independent":
        return replace(settings, scales=1)
    evaluations = settings.frame_iterations or max(1, settings.evaluation_budget // 2)
    return replace(settings, scales=1, iterations=evaluations, outer_iterations=None, maxfun=None)


def sized_frame(frame: ImageSource, settings: Settings) -> np.ndarray:
    """A frame at the output size (RGB, 0..255 float32), as the run sees it: what the flow is computed on (for a
    frame that is run, its prepared images' photo)."""
    picture = load_image(frame, "video frame")
    return to_array(resize(picture, *output_size(picture, settings), "video frame"))


def check_frames(frame_size: tuple[int, int], styles: Sequence[ImageSource], settings: Settings) -> None:
    """Every input problem a frame of `frame_size` (width, height) would meet (the styles, the masks, the memory, a
    frame too large to run whole), before TensorFlow loads: a blank frame of that size prepared as the first."""
    prepare(Image.new("RGB", frame_size), list(styles), frame_settings(settings, first=True), frame=True)


def finished_frames(sidecar: Path, identity: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    """The frames an earlier run of the same clip, styles, settings and mode finished, in order, up to the first one
    whose record or PNG is missing or does not decode: where a resumed run starts."""
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(record, dict) or record.get("identity") != identity:
        return []
    done = []
    for index, frame in enumerate(record.get("frames") or []):
        path = folder / FRAME_NAME.format(index + 1)
        if not isinstance(frame, dict) or frame.get("index") != index or not path.is_file():
            break
        try:
            with Image.open(path) as image:
                image.load()
        except Exception:  # a damaged PNG, of any kind Pillow reports: run that frame again
            break
        done.append(frame)
    return done


def carried_start(prepared: Prepared, previous_input: np.ndarray, previous_output: np.ndarray,
                  current: np.ndarray, mode: str, settings: Settings) -> tuple[Prepared, float]:
    """A later frame's inputs: its start is the previous output carried along the flow from the previous input
    frame (elsewhere the frame's own --init), and (mode temporal) the temporal term's target; with the share of its
    pixels the flow can trust."""
    moved = motion(previous_input, current)
    if settings.preserve_colors == "luminance-only":  # the network sees grey images: carry the result's luminance
        previous_output = grey(luminance(previous_output))
    carried = moved.carried(previous_output)
    # where the flow cannot be trusted (uncovered, motion boundaries) the frame starts as a first frame would, from
    # the preset's --init: the photograph's own pixels there (the previous default) kept their colours through a
    # frame's few evaluations, and the flow carried the unpainted patch on from frame to frame
    start = np.where(moved.reliable[..., None] > 0, carried, prepared.final.start).astype(np.float32)
    target = (carried, moved.reliable) if mode == "temporal" else None
    final = prepared.final._replace(start=start, previous=target)
    return prepared.with_final(final), round(float(moved.reliable.mean()), 4)


def stylize_frames(
    frames: Iterable[np.ndarray],
    styles: Sequence[ImageSource],
    settings: Settings,
    folder: Path,
    sidecar: Path,
    identity: dict[str, Any],
    *,
    mode: str = "temporal",
    callback: Callbacks = None,
    on_frame: Callable[[FrameDone], None] | None = None,
    on_resume: Callable[[int], None] | None = None,
    extra: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Stylize `frames` (RGB uint8 arrays, streamed) into `folder`/frame_00001.png ..., recording each in `sidecar`
    (with `identity`, what a resumed run must match, and `extra`); returns the frames' records. Frames an earlier
    run finished are skipped (`on_resume` gets their count) and the run goes on from the last one. `callback` gets
    each evaluation's monitor.Progress; one that returns True stops the run: the frame in progress is dropped and
    Interrupted is raised (run again to resume). `mode`: temporal (flow-carried start and the temporal term), warm
    (the start only), independent (every frame as a single image)."""
    from keras_style.run.transfer import stylize_result

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    done = finished_frames(sidecar, identity, folder)
    if done and on_resume is not None:
        on_resume(len(done))
    records = list(done)
    previous_input = previous_output = None
    for index, frame in enumerate(frames):
        if index < len(done):  # finished: the next frame starts from its PNG
            previous_input = sized_frame(frame, settings)
            if index == len(done) - 1:
                previous_output = to_array(load_image(folder / FRAME_NAME.format(index + 1)))
            continue
        started = time.perf_counter()
        first = previous_output is None
        run_settings = frame_settings(settings, first, mode)
        prepared = prepare(frame, list(styles), run_settings, frame=True)
        current = prepared.final.photo  # the frame at the output size, in colour: what the flow is computed on
        record: dict[str, Any] = {"index": index, "file": FRAME_NAME.format(index + 1), "warm_start": False}
        if not first and mode != "independent":
            prepared, reliable_share = carried_start(prepared, previous_input, previous_output, current, mode,
                                                     run_settings)
            record.update(warm_start=True, reliable_share=reliable_share)
        result = stylize_result(None, None, settings=run_settings, prepared=prepared, callback=callback)
        if result.interrupted:
            raise Interrupted()
        path = folder / FRAME_NAME.format(index + 1)
        save_image(result.image, path, replace=True)
        record.update(evaluations=result.evaluations, stopped=result.stopped, losses=result.losses,
                      seconds=round(time.perf_counter() - started, 3), compute=result.compute)
        records.append(record)
        save_json({"identity": identity, **(extra or {}), "finished": False, "frames": records}, sidecar)
        if on_frame is not None:
            on_frame(FrameDone(index, path, record, result.image))
        previous_input, previous_output = current, result.image.astype(np.float32)
    return records


def stylize_clip(
    clip,
    styles: Sequence[ImageSource],
    settings: Settings,
    output: Path,
    folder: Path,
    sidecar: Path,
    identity: dict[str, Any],
    *,
    callback: Callbacks = None,
    on_frame: Callable[[FrameDone], None] | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A whole clip (files.video.Clip): its frames stylized into `folder` (stylize_frames, resumed where an earlier
    run stopped), then OUTPUT encoded from them at the clip's frame rate with its sound (a folder OUTPUT is `folder`
    itself: nothing to encode). Returns the frames' records and encode_clip's note (None, or why the sound was
    dropped); the sidecar ends with finished: true."""
    from keras_style.files.video import encode_clip

    extra = {**(extra or {}), "fps": str(clip.fps)}
    records = stylize_frames(clip.iter_frames(), styles, settings, folder, sidecar, identity, callback=callback,
                             on_frame=on_frame, extra=extra)
    note = None
    if output != folder:
        frames = (np.asarray(load_image(folder / record["file"]), dtype=np.uint8) for record in records)
        note = encode_clip(frames, output, clip.fps, audio_from=clip.source if clip.has_audio else None)
    audio = note or ("kept" if clip.has_audio else None)
    save_json({"identity": identity, **extra, "finished": True, "audio": audio, "frames": records}, sidecar)
    return records, note
