"""Video files in and out (keras_style.files.video): round trips through each kind of output, a folder of frames in
natural order, the source's sound kept or dropped, every unusable input refused in one line when the clip is opened,
an unwritable output refused before any frame, and nothing left behind when writing fails. Tiny clips: 48x32, 6
frames."""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import weakref
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_style.errors import UserError
from keras_style.files import video
from keras_style.files.video import VideoFormat, check_clip_output, encode_clip, open_clip

from .conftest import require

av = require("av", "video needs the [video] extra")

WIDTH, HEIGHT, COUNT = 48, 32, 6
FPS = Fraction(12)


def make_frame(step: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Smooth gradients that move a little from step to step (what a codec compresses well)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([(x * 4 + step * 6) % 256, 40 + y * 5, 200 - (x + y) * 2 + step * 4], axis=-1).astype(np.uint8)


def make_frames(count: int = COUNT, width: int = WIDTH, height: int = HEIGHT) -> list[np.ndarray]:
    return [make_frame(step, width, height) for step in range(count)]


def mean_error(decoded: list[np.ndarray], originals: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(a.astype(np.int16) - b).mean() for a, b in zip(decoded, originals)]))


def one_line_error(call, *fragments: str) -> str:
    with pytest.raises(UserError) as raised:
        call()
    message = str(raised.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def write_with_sound(path: Path, frames: list[np.ndarray], seconds: float = 0.5, rate: int = 16000) -> Path:
    """A video with a sine tone: H.264 (MPEG-4 Part 2 in an AVI) and AAC, as a camera writes."""
    with av.open(str(path), "w") as container:
        picture = container.add_stream("libx264" if path.suffix != ".avi" else "mpeg4", rate=FPS)
        picture.width, picture.height, picture.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = container.add_stream("aac", rate=rate)
        sound.layout = "mono"
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            container.mux(picture.encode(frame))
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)
        samples = av.AudioFrame.from_ndarray(tone.astype(np.float32)[None], format="flt", layout="mono")
        samples.sample_rate, samples.pts = rate, 0
        container.mux(sound.encode(samples))
        container.mux(sound.encode(None))
        container.mux(picture.encode(None))
    return path


def streams_of(path: Path) -> list[tuple[str, str]]:
    with av.open(str(path)) as container:
        return [(stream.type, stream.codec_context.name) for stream in container.streams]


# 1. Round trips.

def test_mp4_round_trip(tmp_path):
    frames = make_frames()
    output = tmp_path / "clip.mp4"
    assert encode_clip(iter(frames), output, FPS) is None
    clip = open_clip(output)
    assert (clip.frames, clip.fps, clip.size, clip.has_audio, clip.source) == (COUNT, FPS, (WIDTH, HEIGHT), False,
                                                                              output)
    decoded = list(clip.iter_frames())
    assert len(decoded) == COUNT and all(frame.shape == (HEIGHT, WIDTH, 3) for frame in decoded)
    assert decoded[0].dtype == np.uint8
    assert mean_error(decoded, frames) < 4  # H.264 at CRF 18, colour halved both ways (4:2:0)
    assert streams_of(output) == [("video", "h264")]


def test_gif_round_trip(tmp_path):
    frames = make_frames()
    output = tmp_path / "clip.gif"
    assert encode_clip(iter(frames), output, FPS) is None
    clip = open_clip(output)
    assert (clip.frames, clip.size) == (COUNT, (WIDTH, HEIGHT))
    assert abs(clip.fps - FPS) < 1  # GIF stores delays in 1/100 s: 1/12 s becomes 8/100 s, 12.5 fps
    decoded = list(clip.iter_frames())
    assert len(decoded) == COUNT
    assert mean_error(decoded, frames) < 5  # 256 colours per frame


def test_every_suffix_writes_a_clip_that_reads_back(tmp_path):
    frames = make_frames(count=3)
    for suffix in video.VIDEO_SUFFIXES:
        output = tmp_path / f"clip{suffix}"
        encode_clip(iter(frames), output, FPS)
        clip = open_clip(output)
        assert clip.size == (WIDTH, HEIGHT) and len(list(clip.iter_frames())) == 3, suffix


def test_odd_sides_get_one_more_row_and_column_for_4_2_0(tmp_path):
    frames = make_frames(width=47, height=31)
    output = tmp_path / "odd.mp4"
    encode_clip(iter(frames), output, FPS)
    clip = open_clip(output)
    assert clip.size == (48, 32)
    decoded = list(clip.iter_frames())
    assert mean_error([frame[:31, :47] for frame in decoded], frames) < 6  # every stylized pixel is kept


def test_a_folder_of_frames_is_read_in_natural_order(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    shades = {"frame10.png": 200, "frame2.png": 100, "frame1.png": 50}
    for name, shade in shades.items():
        Image.new("RGB", (WIDTH, HEIGHT), (shade, 0, 0)).save(folder / name)
    (folder / "notes.txt").write_text("not a frame")
    clip = open_clip(folder)
    assert (clip.frames, clip.fps, clip.size, clip.has_audio) == (3, video.DEFAULT_FPS, (WIDTH, HEIGHT), False)
    assert [int(frame[0, 0, 0]) for frame in clip.iter_frames()] == [50, 100, 200]  # frame2 before frame10
    assert open_clip(folder, folder_fps=Fraction(24)).fps == 24


def test_a_folder_output_holds_png_frames_and_loses_stale_ones(tmp_path):
    frames = make_frames()
    output = tmp_path / "stylized"
    assert encode_clip(iter(frames), output, FPS) is None
    names = sorted(path.name for path in output.iterdir())
    assert names == [f"frame_{number:05d}.png" for number in range(1, COUNT + 1)]
    assert mean_error(list(open_clip(output).iter_frames()), frames) == 0  # PNG is lossless
    check_clip_output(output, force=True)
    one_line_error(lambda: check_clip_output(output, force=False), "already holds frames", "--force")
    encode_clip(iter(frames[:2]), output, FPS)  # a shorter clip with --force: no frames of the old one after it
    assert sorted(path.name for path in output.iterdir()) == ["frame_00001.png", "frame_00002.png"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["stylized"]  # no staging folder left


def test_a_rotated_phone_video_reads_upright(tmp_path):
    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip("PyAV before 18 cannot write a display matrix")
    picture = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    picture[:8] = 255  # white top rows
    source = tmp_path / "phone.mp4"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.set_display_rotation(90)  # shown turned a quarter counter-clockwise
        container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode(None))
    clip = open_clip(source)
    assert clip.size == (HEIGHT, WIDTH)
    upright = next(clip.iter_frames())
    assert upright.shape == (WIDTH, HEIGHT, 3)
    assert upright[:, :4].mean() > 200 and upright[:, -4:].mean() < 50  # the top went to the left


@pytest.mark.parametrize("name", ["clip.mp4", "clip.gif", "frames"])
def test_frames_are_written_as_they_come_never_held(tmp_path, name):
    alive = []

    def frames():
        for index in range(COUNT):
            frame = make_frame(index)
            held = sum(reference() is not None for reference in alive)
            assert held <= 2, f"{held} earlier frames still held when frame {index + 1} comes"
            alive.append(weakref.ref(frame))
            yield frame

    encode_clip(frames(), tmp_path / name, FPS)
    assert open_clip(tmp_path / name).frames == COUNT


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through /proc")
def test_the_video_is_closed_when_reading_stops_early(tmp_path):
    output = tmp_path / "clip.mp4"
    encode_clip(iter(make_frames()), output, FPS)
    clip = open_clip(output)
    before = len(os.listdir("/proc/self/fd"))
    frames = clip.iter_frames()
    next(frames)
    assert len(os.listdir("/proc/self/fd")) > before
    frames.close()
    assert len(os.listdir("/proc/self/fd")) == before


# 2. Sound.

def test_sound_is_copied_into_mp4_and_transcoded_for_webm(tmp_path):
    frames = make_frames()
    source = write_with_sound(tmp_path / "source.mp4", frames)
    assert open_clip(source).has_audio
    kept = tmp_path / "stylized.mp4"
    assert encode_clip(iter(frames), kept, FPS, audio_from=source) is None
    assert streams_of(kept) == [("video", "h264"), ("audio", "aac")]
    assert open_clip(kept).has_audio
    webm = tmp_path / "stylized.webm"
    assert encode_clip(iter(frames), webm, FPS, audio_from=source) is None  # WebM takes no AAC: Opus
    assert streams_of(webm) == [("video", "vp9"), ("audio", "opus")]


def test_sound_ends_where_the_frames_end(tmp_path):
    frames = make_frames()
    source = write_with_sound(tmp_path / "source.mp4", frames, seconds=2.0)
    output = tmp_path / "stylized.mp4"
    encode_clip(iter(frames), output, FPS, audio_from=source)  # 6 frames at 12 fps: 0.5 s
    with av.open(str(output)) as container:
        sound = container.streams.audio[0]
        assert float(sound.duration * sound.time_base) < 0.5 + 0.1  # whole AAC packets of 1024 samples


def test_sound_dropped_for_gif_and_folders_says_so(tmp_path):
    frames = make_frames()
    source = write_with_sound(tmp_path / "source.mp4", frames)
    note = encode_clip(iter(frames), tmp_path / "stylized.gif", FPS, audio_from=source)
    assert note and "dropped" in note and "GIF" in note and "\n" not in note
    note = encode_clip(iter(frames), tmp_path / "frames", FPS, audio_from=source)
    assert note and "dropped" in note and "folder" in note
    silent = tmp_path / "silent.mp4"
    encode_clip(iter(frames), silent, FPS)
    assert encode_clip(iter(frames), tmp_path / "again.gif", FPS, audio_from=silent) is None  # nothing to drop


# 3. Unusable inputs: one line naming the path, when the clip is opened.

def test_a_missing_path(tmp_path):
    one_line_error(lambda: open_clip(tmp_path / "nowhere.mp4"), "nowhere.mp4", "does not exist")


def test_a_text_file_is_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("a shopping list\n")
    one_line_error(lambda: open_clip(path), "notes.mp4", "text file, not a video")


def test_an_image_is_not_a_video(tmp_path):
    path = tmp_path / "still.png"
    Image.new("RGB", (WIDTH, HEIGHT)).save(path)
    one_line_error(lambda: open_clip(path), "still.png", "PNG image, not a video", "folder of frames")


def test_an_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    one_line_error(lambda: open_clip(path), "empty.mp4", "empty file")


def write_no_frames(path: Path) -> Path:
    """A video stream that never gets a frame, beside some sound (mkv keeps such a track)."""
    with av.open(str(path), "w") as container:
        picture = container.add_stream("libx264", rate=FPS)
        picture.width, picture.height, picture.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = container.add_stream("aac", rate=16000)
        sound.layout = "mono"
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 4000), np.float32), format="flt", layout="mono")
        samples.sample_rate, samples.pts = 16000, 0
        container.mux(sound.encode(samples))
        container.mux(sound.encode(None))
    return path


def test_a_video_with_no_frames(tmp_path):
    path = write_no_frames(tmp_path / "nothing.mkv")
    one_line_error(lambda: open_clip(path), "nothing.mkv", "has no frames")


def write_undecodable(folder: Path) -> Path:
    """MPEG-5 EVC has a demuxer tag but no decoder in PyAV's FFmpeg (it would need libxevd). A QuickTime file whose
    sample description says 'evc1' instead of 'jpeg' is such a file, made honestly with the installed muxer."""
    try:
        av.codec.Codec("evc", "r")
        pytest.skip("this FFmpeg build decodes EVC")
    except av.codec.codec.UnknownCodecError:
        pass
    written = folder / "mjpeg.mov"
    with av.open(str(written), "w") as container:
        stream = container.add_stream("mjpeg", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuvj420p"
        container.mux(stream.encode(av.VideoFrame.from_ndarray(make_frames(1)[0], format="rgb24")))
        container.mux(stream.encode(None))
    data = written.read_bytes()
    entry = data.index(b"jpeg", data.index(b"stsd"))
    path = folder / "evc.mov"
    path.write_bytes(data[:entry] + b"evc1" + data[entry + 4:])
    written.unlink()
    return path


def test_a_codec_this_build_cannot_decode(tmp_path):
    path = write_undecodable(tmp_path)
    one_line_error(lambda: open_clip(path), "evc.mov", "'evc'", "cannot decode")


def test_an_empty_folder(tmp_path):
    one_line_error(lambda: open_clip(tmp_path), "holds no image files")


def test_a_folder_whose_frames_differ_in_size(tmp_path):
    for name, size in (("f1.png", (48, 32)), ("f2.png", (48, 32)), ("f3.png", (40, 32))):
        Image.new("RGB", size).save(tmp_path / name)
    one_line_error(lambda: open_clip(tmp_path), "'f3.png' is 40x32", "'f1.png' is 48x32")


def test_a_damaged_frame_in_a_folder(tmp_path):
    Image.new("RGB", (WIDTH, HEIGHT)).save(tmp_path / "f1.png")
    (tmp_path / "f2.png").write_bytes(b"not a png")
    one_line_error(lambda: open_clip(tmp_path), "f2.png", "not an image file")


def test_decoding_that_fails_midway(tmp_path, monkeypatch):
    # FFmpeg conceals damaged data rather than failing, so a real mid-stream failure is hard to build: the decoder
    # is made to fail after its second frame instead.
    output = tmp_path / "clip.mp4"
    encode_clip(iter(make_frames()), output, FPS)
    clip = open_clip(output)
    real_open = av.open

    class FailingContainer:
        def __init__(self, container):
            self.container = container
            self.streams = container.streams

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.container.close()

        def decode(self, stream):
            for index, frame in enumerate(self.container.decode(stream)):
                if index == 2:
                    raise av.error.InvalidDataError(-1094995529, "Invalid data found when processing input")
                yield frame

    fake = type("FakeAv", (), {"open": staticmethod(lambda name: FailingContainer(real_open(name))),
                               "FFmpegError": av.FFmpegError, "stream": av.stream})
    monkeypatch.setattr(video, "_av", lambda: fake)
    frames = clip.iter_frames()
    assert len([next(frames), next(frames)]) == 2
    one_line_error(lambda: next(frames), "clip.mp4", "after frame 2", "Invalid data")


# 4. Outputs refused before any frame, and nothing left behind.

def test_outputs_refused_before_any_work(tmp_path, monkeypatch):
    one_line_error(lambda: check_clip_output(tmp_path / "clip.txt", force=False), "no video extension", ".mp4")
    one_line_error(lambda: check_clip_output(tmp_path / "missing" / "clip.mp4", force=False), "does not exist")
    existing = tmp_path / "clip.mp4"
    existing.write_bytes(b"precious")
    one_line_error(lambda: check_clip_output(existing, force=False), "already exists", "--force")
    check_clip_output(existing, force=True)
    (tmp_path / "frames").write_text("a file, not a folder")
    one_line_error(lambda: check_clip_output(tmp_path / "frames", force=True), "is a file")
    check_clip_output(tmp_path / "new_frames", force=False)  # a folder to be made
    # Tests may run as root, where chmod cannot make a folder unwritable: simulate what os.access reports.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    one_line_error(lambda: check_clip_output(tmp_path / "clip.webm", force=False), "not writable")


def test_a_format_this_build_cannot_encode_is_refused_before_any_frame(tmp_path, monkeypatch):
    # This build has every encoder VIDEO_FORMATS names: one without WebM's is simulated by naming missing encoders.
    missing = VideoFormat("webm", (("libvpx-vp99", "yuv420p"),), ("libopus",))
    monkeypatch.setitem(video.VIDEO_FORMATS, ".webm", missing)
    monkeypatch.setattr(video, "_WORKING_ENCODERS", {})
    one_line_error(lambda: check_clip_output(tmp_path / "clip.webm", force=False), "cannot write .webm",
                   "libvpx-vp99")
    assert list(tmp_path.iterdir()) == []


def failing_after(frames: list[np.ndarray], count: int):
    yield from frames[:count]
    raise RuntimeError("the stylizer stopped")


@pytest.mark.parametrize("name", ["clip.mp4", "clip.gif", "frames"])
def test_nothing_is_left_when_writing_fails_midway(tmp_path, name):
    with pytest.raises(RuntimeError, match="stylizer"):
        encode_clip(failing_after(make_frames(), 3), tmp_path / name, FPS)
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file or folder


def test_a_failed_write_keeps_the_old_output(tmp_path):
    output = tmp_path / "clip.mp4"
    encode_clip(iter(make_frames()), output, FPS)
    before = output.read_bytes()
    with pytest.raises(RuntimeError):
        encode_clip(failing_after(make_frames(), 2), output, FPS)
    assert output.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["clip.mp4"]


def test_frames_of_different_sizes_are_refused(tmp_path):
    frames = make_frames(count=2) + make_frames(count=1, width=40)
    with pytest.raises(ValueError, match="frame 3 is 40x32"):
        encode_clip(iter(frames), tmp_path / "clip.mp4", FPS)
    assert list(tmp_path.iterdir()) == []


def test_the_module_loads_without_pyav(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "av", None)  # as if the extra were not installed
    assert ".mp4" in video.VIDEO_SUFFIXES
    shutil.copy(__file__, tmp_path / "clip.mp4")
    one_line_error(lambda: open_clip(tmp_path / "clip.mp4"), "PyAV", "keras-style[video]")


def test_the_demo_clip_script_draws_a_moving_scene(tmp_path, capsys):
    script = Path(__file__).resolve().parent.parent / "scripts" / "make_demo_clip.py"
    spec = importlib.util.spec_from_file_location("make_demo_clip", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    output = tmp_path / "demo.mp4"
    assert module.main(["--frames", "4", "--width", "64", "--height", "48", "--output", str(output)]) == 0
    clip = open_clip(output)
    assert (clip.frames, clip.fps, clip.size) == (4, 12, (64, 48))
    first, *_, last = clip.iter_frames()
    assert np.abs(first.astype(np.int16) - last).mean() > 2  # the camera and the objects moved
