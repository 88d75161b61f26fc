"""Video files in and out of `keras-style video`: a clip read frame by frame from a video file or a folder of frames,
and stylized frames written as a video (with the source's sound where the container can hold it) or as a folder of
PNG frames.

Frames stream one at a time both ways: a clip is never held in memory. Every way an input can be unusable becomes a
one-line UserError naming it, found when the clip is opened (the first frame is decoded then) rather than after the
first stylized frame; check_clip_output does the same for OUTPUT before any work. Written files go through a
temporary name beside OUTPUT, as images do (files.outputs): a failure midway leaves nothing behind.

PyAV (FFmpeg) is the `video` extra, imported only when a clip is opened or written, so VIDEO_SUFFIXES costs nothing.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from keras_style.errors import UserError, first_line
from keras_style.files.folders import expand
from keras_style.files.images import load_image

# The private helpers are the ones images use, so a video and an image are written the same way.
from keras_style.files.outputs import _publish, _temporary, save_image

INSTALL = 'pip install "keras-style[video]"'


class VideoFormat(NamedTuple):
    """How one output extension is written: FFmpeg's muxer, the video encoders to try in order (with the pixel format
    each is given), the audio encoders to try in order when the source's sound must be transcoded, and the audio
    codecs copied unchanged (None: any the muxer accepts)."""

    muxer: str
    video_encoders: tuple[tuple[str, str], ...]
    audio_encoders: tuple[str, ...]
    audio_copied: tuple[str, ...] | None = None


# H.264 plays everywhere; MPEG-4 Part 2 is the fallback of FFmpeg builds without libx264. MP4's muxer accepts PCM and
# FLAC too, but players and browsers expect AAC (or MP3, AC-3, Opus): other sound is transcoded to AAC. WebM allows
# only VP8/VP9 (and AV1) with Opus or Vorbis; GIF holds no sound; AVI's usual sound is MP3.
H264_FIRST = (("libx264", "yuv420p"), ("mpeg4", "yuv420p"))
VIDEO_FORMATS = {
    ".mp4": VideoFormat("mp4", H264_FIRST, ("aac",), ("aac", "mp3", "ac3", "eac3", "opus", "alac")),
    ".mov": VideoFormat("mov", H264_FIRST, ("aac",)),
    ".mkv": VideoFormat("matroska", H264_FIRST, ("aac", "libopus")),
    ".webm": VideoFormat("webm", (("libvpx-vp9", "yuv420p"), ("libvpx", "yuv420p")), ("libopus", "opus", "vorbis")),
    ".gif": VideoFormat("gif", (("gif", "pal8"),), ()),
    ".avi": VideoFormat("avi", (("mpeg4", "yuv420p"), ("libx264", "yuv420p")), ("libmp3lame", "ac3", "pcm_s16le")),
}
VIDEO_SUFFIXES = tuple(VIDEO_FORMATS)

# Encoder settings: visually lossless H.264 and VP9 (constant quality), MPEG-4 held to fine quantisers (its rate
# control otherwise aims at 200 kb/s whatever the size).
ENCODER_OPTIONS = {
    "libx264": {"crf": "18", "preset": "medium"},
    "libvpx-vp9": {"crf": "24", "b": "0", "row-mt": "1"},
    "libvpx": {"crf": "8", "b": "2M"},
    "mpeg4": {"qmin": "2", "qmax": "4"},
}
# FFmpeg's native Opus and Vorbis encoders are marked experimental: it refuses them unless told otherwise.
EXPERIMENTAL_ENCODERS = ("opus", "vorbis")
# Pixel formats whose chroma is halved both ways: the encoders need even widths and heights.
HALVED_CHROMA = ("yuv420p",)

# The frame rate of a folder of frames, which says none (and of a video whose container says none).
DEFAULT_FPS = Fraction(12)
# Frames written to a folder: frame_00001.png, frame_00002.png, ...
FRAME_NAME = "frame_{:05d}.png"
FRAME_PATTERN = re.compile(r"frame_\d{5,}\.png")
# Tiny frames encoded when probing whether this PyAV can write a format (16 px: the smallest H.264 macroblock).
PROBE_SIZE, PROBE_FRAMES = 16, 2


def _av():
    """PyAV, or a UserError saying how to install it."""
    try:
        import av
        import av.logging
    except ImportError:
        raise UserError(f"video needs PyAV, which is not installed: {INSTALL}") from None
    return av


# -- reading ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """A video file or a folder of frames, checked and ready to stream.

    `frames` is None when a video's container does not say how many it has; `size` is (width, height) as shown,
    after the rotation a phone records; `fps` is the container's average frame rate (DEFAULT_FPS or what the caller
    gave for a folder)."""

    source: Path
    frames: int | None
    fps: Fraction
    size: tuple[int, int]
    has_audio: bool
    frame_paths: tuple[Path, ...] = field(default=(), repr=False)  # a folder's frames in order; empty for a video
    quarter_turns: int = 0  # counter-clockwise quarter turns that show a video's frames upright (np.rot90's k)

    def iter_frames(self) -> Iterator[np.ndarray]:
        """The frames in order as RGB uint8 arrays (H, W, 3), decoded one at a time; the file is closed when the
        loop ends, breaks or fails. Each call starts again from the first frame."""
        if self.frame_paths:
            for path in self.frame_paths:
                yield np.asarray(load_image(path, "frame"))
            return
        yield from _decode(self)


def open_clip(path: str | os.PathLike, folder_fps: Fraction = DEFAULT_FPS) -> Clip:
    """Open INPUT of `keras-style video`: a video file, or a folder of image files (frames in natural order, frame2
    before frame10) shown at `folder_fps`. Refuses, each in one line naming the path, a missing path, a file that is
    no video, a video with no frames or whose codec this PyAV cannot decode, a folder with no image files and a folder
    whose frames differ in size."""
    source = Path(path)
    if not source.exists():
        raise UserError(f"video {str(source)!r} does not exist")
    if source.is_dir():
        return _open_folder(source, Fraction(folder_fps))
    return _open_video(source)


def _open_folder(folder: Path, fps: Fraction) -> Clip:
    frame_paths = expand([str(folder)], "video")
    first_size = _frame_size(frame_paths[0])
    for frame_path in frame_paths[1:]:
        size = _frame_size(frame_path)
        if size != first_size:
            raise UserError(
                f"video folder {str(folder)!r}: frame {frame_path.name!r} is {size[0]}x{size[1]} px but "
                f"{frame_paths[0].name!r} is {first_size[0]}x{first_size[1]}; every frame must have one size")
    return Clip(source=folder, frames=len(frame_paths), fps=fps, size=first_size, has_audio=False,
                frame_paths=tuple(frame_paths))


# EXIF orientations that turn an image a quarter (load_image applies them, so the frame's width and height swap).
EXIF_ORIENTATION = 0x0112
QUARTER_TURN_ORIENTATIONS = (5, 6, 7, 8)


def _frame_size(path: Path) -> tuple[int, int]:
    """(width, height) of a frame as load_image will give it, read from the header without decoding."""
    try:
        with Image.open(path) as opened:
            width, height = opened.size
            turned = opened.getexif().get(EXIF_ORIENTATION) in QUARTER_TURN_ORIENTATIONS
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        load_image(path, "frame")  # raises the UserError that says what is wrong with the file
        raise UserError(f"frame {str(path)!r} is not an image file Pillow can read") from None
    return (height, width) if turned else (width, height)


def _open_video(path: Path) -> Clip:
    av = _av()
    name = str(path)
    if path.stat().st_size == 0:
        raise UserError(f"video {name!r} is an empty file")
    try:
        container = av.open(name)
    except PermissionError:
        raise UserError(f"video {name!r} cannot be read: permission denied") from None
    except (av.FFmpegError, OSError, ValueError) as error:
        raise UserError(f"video {name!r} {_what_it_is(path, error)}") from None
    with container:
        still = _still_image(container.format.name)
        if still:
            raise UserError(f"video {name!r} is {still}, not a video; give a video file or a folder of frames")
        stream = _video_stream(container)
        if stream is None:
            sound = " (only sound)" if container.streams.audio else ""
            raise UserError(f"video {name!r} has no video stream{sound}")
        if stream.codec_context is None:
            raise UserError(f"video {name!r} is {_codec_description(container)} video, which this PyAV build "
                            "cannot decode (it has no decoder for it)")
        codec = stream.codec_context.name
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as error:
            raise UserError(f"video {name!r}: its first frame ({codec}) cannot be decoded by this PyAV build "
                            f"({_reason(error)})") from None
        if first is None:
            raise UserError(f"video {name!r} has no frames")
        quarter_turns = _quarter_turns(first)
        width, height = first.width, first.height
        if quarter_turns % 2:
            width, height = height, width
        fps = stream.average_rate or stream.guessed_rate or DEFAULT_FPS
        return Clip(source=path, frames=stream.frames or None, fps=Fraction(fps), size=(width, height),
                    has_audio=bool(container.streams.audio), quarter_turns=quarter_turns)


def _what_it_is(path: Path, error: Exception) -> str:
    """Why FFmpeg could not open a file, saying what the file is when that is easy to tell (an image, text)."""
    try:
        with Image.open(path) as opened:
            return f"is a {opened.format} image, not a video; give a video file or a folder of frames"
    except (OSError, SyntaxError, ValueError, EOFError, UnidentifiedImageError, Image.DecompressionBombError):
        pass
    with open(path, "rb") as stream:
        head = stream.read(4096)
    try:
        head.decode("utf-8")
        return "is a text file, not a video"
    except UnicodeDecodeError:
        pass
    if isinstance(error, EOFError):  # FFmpeg's "End of file": it read all there was without finding a frame
        return f"is not a video this PyAV build can read, or is cut short ({_reason(error)})"
    return f"is not a video this PyAV build can read ({_reason(error)})"


def _reason(error: Exception) -> str:
    """FFmpeg's words for an error, without the errno and file name PyAV adds ('Invalid data found when ...')."""
    return getattr(error, "strerror", None) or first_line(error)


def _still_image(demuxer: str) -> str | None:
    """'a PNG image' for FFmpeg's png_pipe demuxer (one image read as a one-frame video), None for a video's."""
    if demuxer.endswith("_pipe"):
        return f"a {demuxer.removesuffix('_pipe').upper()} image"
    if demuxer in ("image2", "image2pipe"):
        return "a still image"
    return None


def _video_stream(container: Any) -> Any:
    """The first video stream that is not an album cover (an 'attached picture' of a sound file)."""
    av = _av()
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _codec_description(container: Any) -> str:
    """'evc' from FFmpeg's own summary of the file, for a stream PyAV gives no codec for (it has no decoder)."""
    av = _av()
    level = av.logging.get_level()
    av.logging.set_level(av.logging.INFO)  # the summary is a log message; below INFO it is empty
    try:
        with av.logging.Capture():  # and nothing reaches stderr
            summary = container.dumps_format()
    finally:
        av.logging.set_level(level)
    found = re.search(r"Stream #\S+: Video: ([\w-]+)", summary)
    return f"{found.group(1)!r}" if found else "an unknown codec's"


def _quarter_turns(frame: Any) -> int:
    """np.rot90's k that shows a frame upright: the display matrix a phone records (a quarter-turn multiple)."""
    degrees = frame.rotation  # counter-clockwise, as FFmpeg's av_display_rotation_get
    return round(degrees / 90) % 4 if degrees and degrees % 90 == 0 else 0


def _decode(clip: Clip) -> Iterator[np.ndarray]:
    """A video's frames as RGB uint8, upright, each at the clip's size (FFmpeg allows a size change midway)."""
    av = _av()
    name = str(clip.source)
    stored_width, stored_height = clip.size[::-1] if clip.quarter_turns % 2 else clip.size
    try:
        container = av.open(name)
    except (av.FFmpegError, OSError) as error:
        raise UserError(f"video {name!r} cannot be opened again ({_reason(error)})") from None
    with container:
        stream = _video_stream(container)
        stream.thread_type = "AUTO"  # frame and slice threads: decoding keeps up with the network
        decoded = 0
        try:
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24", width=stored_width, height=stored_height)
                decoded += 1
                yield np.ascontiguousarray(np.rot90(rgb, clip.quarter_turns)) if clip.quarter_turns else rgb
        except av.FFmpegError as error:
            raise UserError(f"video {name!r} cannot be decoded after frame {decoded} ({_reason(error)})") from None


# -- writing ---------------------------------------------------------------------------------------------------------


def _is_folder_output(output: Path) -> bool:
    """A folder of frames: an existing folder, or a name with no extension."""
    return output.is_dir() or not output.suffix


def check_clip_output(path: Path, force: bool) -> None:
    """Refuse, before any work, an OUTPUT that cannot or should not be written: an extension that is no video
    format, a format this PyAV cannot encode, a missing or read-only folder, and without `force` an existing file
    (or a folder already holding frames)."""
    output = Path(path)
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"output folder {str(parent)!r} does not exist")
    if _is_folder_output(output):
        _check_frames_folder(output, parent, force)
        return
    suffix = output.suffix.lower()
    if suffix not in VIDEO_FORMATS:
        raise UserError(f"output {str(output)!r} has no video extension; use one of {', '.join(VIDEO_SUFFIXES)}, "
                        "or a name without one for a folder of frames")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"output folder {str(parent)!r} is not writable")
    if _video_encoder(suffix) is None:
        tried = ", ".join(encoder for encoder, _ in VIDEO_FORMATS[suffix].video_encoders)
        raise UserError(f"this PyAV build cannot write {suffix} video (no working encoder among {tried}); "
                        "use another extension, e.g. .mp4, or a folder of frames")
    if not force and os.path.lexists(output):
        raise UserError(f"{str(output)!r} already exists; pass --force to overwrite it")


def _check_frames_folder(output: Path, parent: Path, force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise UserError(f"output {str(output)!r} is a file with no video extension; use one of "
                        f"{', '.join(VIDEO_SUFFIXES)}, or name a folder for the frames")
    writable = output if output.is_dir() else parent
    if not os.access(writable, os.W_OK | os.X_OK):
        raise UserError(f"output folder {str(writable)!r} is not writable")
    if not force and output.is_dir() and _written_frames(output):
        raise UserError(f"output folder {str(output)!r} already holds frames ({FRAME_NAME.format(1)}, ...); "
                        "pass --force to replace them")


def _written_frames(folder: Path) -> list[Path]:
    """The frame_NNNNN.png files in a folder (what writing frames there would replace)."""
    return [child for child in folder.iterdir() if FRAME_PATTERN.fullmatch(child.name)]


def encode_clip(frames: Iterable[np.ndarray], output: Path, fps: Fraction,
                audio_from: Path | None = None) -> str | None:
    """Write RGB uint8 frames (H, W, 3), all of one size, to OUTPUT at `fps`, taking them one at a time: a video
    (the encoder VIDEO_FORMATS names first that this PyAV has) or, for a folder, frame_00001.png, ... Whatever is
    at OUTPUT is replaced (check_clip_output decides beforehand whether it may be); nothing is left behind if
    writing fails, whatever raises (the frames' iterator included).

    4:2:0 encoders (H.264, MPEG-4, VP8/9) need even sides: an odd width or height gets one more column or row, a copy
    of the last (no stylized pixel is lost). The sound of `audio_from` (a video; None: silent) is copied unchanged
    when OUTPUT's container can hold its codec, else transcoded (AAC for .mp4/.mov, Opus or Vorbis for .webm), and
    ends where the frames end. Returns None when the sound was kept or there was none, else one line saying why it
    was dropped (GIF and folders hold no sound), for the caller to print.

    The video declares `fps` (a GIF as near as its 1/100 s delays allow: 12 fps is written as 12.5). No frames, or
    frames of different sizes, are the caller's mistake: ValueError."""
    output = Path(output)
    fps = Fraction(fps)
    if _is_folder_output(output):
        _write_frames_folder(frames, output)
        if audio_from is not None and _has_audio(audio_from):
            return f"sound of {str(audio_from)!r} dropped: a folder of frames holds no sound"
        return None
    suffix = output.suffix.lower()
    if suffix not in VIDEO_FORMATS:
        raise UserError(f"output {str(output)!r} has no video extension; use one of {', '.join(VIDEO_SUFFIXES)}")
    encoder = _video_encoder(suffix)
    if encoder is None:
        raise UserError(f"this PyAV build cannot write {suffix} video")
    notes: list[str] = []

    def write(stream: BinaryIO) -> None:
        note = _write_video(stream, frames, VIDEO_FORMATS[suffix], encoder, fps, audio_from)
        if note:
            notes.append(note)

    with _temporary(output, write) as temporary:
        _publish(temporary, output, replace=True)
    return notes[0] if notes else None


def _write_frames_folder(frames: Iterable[np.ndarray], output: Path) -> None:
    """Frames as PNG files written into a new hidden folder beside OUTPUT, moved into OUTPUT once all are written:
    a failure leaves OUTPUT as it was. Frames of an earlier, longer clip beyond the last new one are removed."""
    parent = output.parent if str(output.parent) else Path(".")
    staging = parent / f".{output.name}.{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        count = 0
        for count, frame in enumerate(frames, start=1):
            save_image(_as_rgb(frame, count), staging / FRAME_NAME.format(count))
        if count == 0:
            raise ValueError("no frames to write")
        if not output.is_dir():
            with contextlib.suppress(FileExistsError):
                output.mkdir()
        kept = {FRAME_NAME.format(number) for number in range(1, count + 1)}
        for old in _written_frames(output):
            if old.name not in kept:
                old.unlink()
        for number in range(1, count + 1):
            name = FRAME_NAME.format(number)
            os.replace(staging / name, output / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _as_rgb(frame: np.ndarray, number: int) -> np.ndarray:
    """A frame as uint8 (H, W, 3); other dtypes are taken as 0..255 and rounded."""
    array = np.asarray(frame)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"frame {number} has shape {array.shape}; frames are RGB arrays (H, W, 3)")
    if array.dtype != np.uint8:
        array = np.clip(np.asarray(array, dtype=np.float64), 0, 255).round().astype(np.uint8)
    return array


def _even(frame: np.ndarray) -> np.ndarray:
    """One more row and/or column, copies of the last, where a side is odd."""
    height, width = frame.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return frame
    return np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def _video_encoder(suffix: str) -> tuple[str, str] | None:
    """The first (encoder, pixel format) of the suffix's list that this PyAV can write: probed by encoding a tiny
    clip in memory, as the real one will be (an encoder can be listed and still fail to open)."""
    if suffix not in _WORKING_ENCODERS:
        _WORKING_ENCODERS[suffix] = None
        video_format = VIDEO_FORMATS[suffix]
        for encoder in video_format.video_encoders:
            blank = np.zeros((PROBE_SIZE, PROBE_SIZE, 3), np.uint8)
            try:
                _write_video(io.BytesIO(), [blank] * PROBE_FRAMES, video_format, encoder, DEFAULT_FPS, None)
            except (_av().FFmpegError, OSError, ValueError):
                continue
            _WORKING_ENCODERS[suffix] = encoder
            break
    return _WORKING_ENCODERS[suffix]


_WORKING_ENCODERS: dict[str, tuple[str, str] | None] = {}


def _write_video(stream: BinaryIO, frames: Iterable[np.ndarray], video_format: VideoFormat,
                 encoder: tuple[str, str], fps: Fraction, audio_from: Path | None) -> str | None:
    """Encode and mux the frames (and the sound of `audio_from`, interleaved) into a binary stream."""
    av = _av()
    codec, pixel_format = encoder
    video = sound = note = None
    count = 0
    with contextlib.ExitStack() as closing, av.open(stream, mode="w", format=video_format.muxer) as container:
        for count, frame in enumerate(frames, start=1):
            rgb = _as_rgb(frame, count)
            if video is None:
                first_shape = rgb.shape
                video = _add_video_stream(container, codec, pixel_format, fps, rgb)
                if audio_from is not None:
                    sound, note = _SoundCopy.start(audio_from, container, video_format)
                    if sound is not None:
                        closing.callback(sound.close)
            elif rgb.shape != first_shape:
                raise ValueError(f"frame {count} is {rgb.shape[1]}x{rgb.shape[0]} px, the first was "
                                 f"{first_shape[1]}x{first_shape[0]}")
            picture = _video_frame(rgb, pixel_format)
            picture.pts = count - 1
            for packet in video.encode(picture):
                container.mux(packet)
            if sound is not None:
                sound.copy_until(count / fps)
        if video is None:
            raise ValueError("no frames to write")
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            note = sound.finish(count / fps)
    return note


def _add_video_stream(container: Any, codec: str, pixel_format: str, fps: Fraction, first: np.ndarray) -> Any:
    video = container.add_stream(codec, rate=fps)
    height, width = (_even(first) if pixel_format in HALVED_CHROMA else first).shape[:2]
    video.width, video.height = width, height
    video.pix_fmt = pixel_format
    video.codec_context.time_base = 1 / fps
    video.codec_context.options = ENCODER_OPTIONS.get(codec, {})
    return video


def _video_frame(rgb: np.ndarray, pixel_format: str) -> Any:
    av = _av()
    if pixel_format == "pal8":
        return _palette_frame(rgb)
    if pixel_format in HALVED_CHROMA:
        rgb = _even(rgb)
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")


def _palette_frame(rgb: np.ndarray) -> Any:
    """A GIF frame: 256 colours chosen for this frame by median cut, without dithering (dither noise differs from
    frame to frame and shimmers)."""
    av = _av()
    quantized = Image.fromarray(rgb).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    colours = np.asarray(quantized.getpalette(), dtype=np.uint8).reshape(-1, 3)
    palette = np.zeros((256, 4), np.uint8)  # ARGB rows, opaque
    palette[:, 0] = 255
    palette[: len(colours), 1:] = colours
    return av.VideoFrame.from_ndarray((np.asarray(quantized), palette), format="pal8")


def _has_audio(path: Path) -> bool:
    av = _av()
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.FFmpegError, OSError):
        return False


def _sample_rate(encoder: Any, wanted: int) -> int:
    """The source's sample rate if the encoder takes it, else the lowest it takes above (Opus: 48 kHz for 44.1)."""
    rates = sorted(encoder.audio_rates or ())
    if not rates or wanted in rates:
        return wanted
    return next((rate for rate in rates if rate > wanted), rates[-1])


class _SoundCopy:
    """The sound of a source video, put into an output container as the frames are written: its packets copied
    unchanged when the container takes the codec, else decoded and encoded again. Time 0 is the source's first
    video frame, so sound and picture stay in step; the sound ends where the frames end (whole packets)."""

    def __init__(self, source: Any, audio_in: Any, container: Any, audio_out: Any, transcode: bool):
        self.source = source
        self.audio_in = audio_in
        self.container = container
        self.audio_out = audio_out
        self.transcode = transcode
        video_in = _video_stream(source)
        self.start_seconds = (float(video_in.start_time * video_in.time_base)
                              if video_in is not None and video_in.start_time else 0.0)
        self.packets = source.demux(audio_in)
        self.held = None  # a packet read past the time copied so far
        self.failure: str | None = None
        self.done = False

    @classmethod
    def start(cls, path: Path, container: Any, video_format: VideoFormat) -> tuple[_SoundCopy | None, str | None]:
        """The copier, or None and the note saying why the sound is dropped (None too when there is none)."""
        av = _av()
        try:
            source = av.open(str(path))
        except (av.FFmpegError, OSError) as error:
            return None, f"sound of {str(path)!r} dropped: it cannot be opened ({_reason(error)})"
        try:
            copy, note = cls._choose(source, container, video_format)
        except BaseException:
            source.close()
            raise
        if copy is None:
            source.close()
        return copy, note

    @classmethod
    def _choose(cls, source: Any, container: Any, video_format: VideoFormat) -> tuple[_SoundCopy | None, str | None]:
        """Copy the packets if the container takes the codec, else the first encoder of the format that opens."""
        av = _av()
        name = source.name
        if not source.streams.audio:
            return None, None
        if not video_format.audio_encoders:
            return None, f"sound of {name!r} dropped: {video_format.muxer.upper()} holds no sound"
        audio_in = source.streams.audio[0]
        if audio_in.codec_context is None:
            return None, f"sound of {name!r} dropped: this PyAV build cannot decode its codec"
        codec = audio_in.codec_context.name
        copied = video_format.audio_copied
        if codec in container.supported_codecs and (copied is None or codec in copied):
            with contextlib.suppress(av.FFmpegError, ValueError):
                return cls(source, audio_in, container, container.add_stream_from_template(audio_in), False), None
        for encoder in video_format.audio_encoders:
            with contextlib.suppress(av.FFmpegError, ValueError):
                rate = _sample_rate(av.codec.Codec(encoder, "w"), audio_in.codec_context.sample_rate)
                audio_out = container.add_stream(encoder, rate=rate)
                audio_out.layout = audio_in.codec_context.layout
                if encoder in EXPERIMENTAL_ENCODERS:
                    audio_out.codec_context.options = {"strict": "experimental"}
                audio_out.codec_context.open()  # fails here, not after the first frames, if it cannot work
                return cls(source, audio_in, container, audio_out, True), None
        return None, (f"sound of {name!r} dropped: its {codec} cannot go into {video_format.muxer} as it is and "
                      f"this PyAV build has no working encoder among {', '.join(video_format.audio_encoders)}")

    def copy_until(self, seconds: float) -> None:
        """Mux the sound that starts before `seconds` of the output."""
        av = _av()
        while not self.done:
            packet = self.held if self.held is not None else next(self.packets, None)
            self.held = None
            if packet is None:
                self.done = True
                break
            if packet.pts is None:  # the demuxer's flush packet, or one with no time to place it
                continue
            at = float(packet.pts * packet.time_base) - self.start_seconds
            if at >= seconds:
                self.held = packet
                break
            try:
                self._put(packet, at)
            except av.FFmpegError as error:
                self.failure = f"after {max(at, 0.0):.1f} s ({_reason(error)})"
                self.done = True

    def _put(self, packet: Any, at: float) -> None:
        if not self.transcode:
            if at < 0:
                return  # sound before the first frame
            shift = round(self.start_seconds / packet.time_base)
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = self.audio_out
            self.container.mux(packet)
            return
        for sound in packet.decode():
            at = float(sound.time) - self.start_seconds
            if at < 0:
                continue
            sound.pts = round(at * sound.sample_rate)
            sound.time_base = Fraction(1, sound.sample_rate)
            for encoded in self.audio_out.encode(sound):
                self.container.mux(encoded)

    def finish(self, seconds: float) -> str | None:
        """Copy the sound up to the end of the frames, flush the encoder and close the source; the note saying
        where the sound was cut short, if it was."""
        av = _av()
        self.copy_until(seconds)
        if self.transcode and self.failure is None:
            try:
                for encoded in self.audio_out.encode(None):
                    self.container.mux(encoded)
            except av.FFmpegError as error:
                self.failure = f"at the end ({_reason(error)})"
        self.close()
        if self.failure:
            return f"sound of {self.source.name!r} cut short {self.failure}"
        return None

    def close(self) -> None:
        self.source.close()
