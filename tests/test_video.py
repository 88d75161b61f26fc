"""`keras-style video` end to end: a 6-frame, 48-px clip through the command, a run killed after frame 3 resumed to
the same output, and every bad input refused in one line with exit 2 and nothing written. Random weights, a few
evaluations a frame: what is tested is the command, not the pictures."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import make_picture, require

require("av", "video needs the [video] extra")
require("cv2", "video needs the [video] extra")

from keras_style.apps import video  # noqa: E402
from keras_style.files.video import encode_clip, open_clip  # noqa: E402

from .test_video_io import FPS, write_no_frames, write_undecodable  # noqa: E402

FAST = ["--size", "48", "--iterations", "6", "--frame-iterations", "6", "--seed", "0", "--weights", "none",
        "--style-layers", "conv1_1", "conv2_1", "--content-layers", "conv2_2", "--quiet"]


def run_video(*arguments) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = video.main([str(argument) for argument in arguments])
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    """A 6-frame clip of a scene panning 3 px a frame (64x48), and a style image."""
    folder = tmp_path_factory.mktemp("clip")
    scene = make_picture(96, 48, seed=4, kind="style")
    encode_clip((scene[:, 3 * step:3 * step + 64] for step in range(6)), folder / "clip.mp4", FPS)
    style = folder / "style.png"
    Image.fromarray(make_picture(48, 48, seed=1, kind="style")).save(style)
    return folder / "clip.mp4", style


@pytest.fixture(scope="module")
def whole(clip, tmp_path_factory) -> Path:
    """The clip through the command, uninterrupted: OUTPUT (its .frames and .json beside it)."""
    source, style = clip
    output = tmp_path_factory.mktemp("whole") / "out.mp4"
    status, _, err = run_video(source, style, output, *FAST)
    assert status == 0, err
    return output


def test_a_short_clip_runs_end_to_end(whole):
    written = open_clip(whole)
    assert (written.frames, written.fps, written.size) == (6, FPS, (48, 36))
    record = json.loads(whole.with_suffix(".json").read_text())
    assert record["finished"] is True and len(record["frames"]) == 6
    first, *later = record["frames"]
    assert first["warm_start"] is False and "temporal" not in first["losses"]["final"]
    # every later frame starts from the previous result carried along the flow (temporal 0 at the start) and moves
    # from it: its loss falls, and the temporal term measures how far it went
    for frame in later:
        initial, final = frame["losses"]["initial"], frame["losses"]["final"]
        assert frame["warm_start"] and initial["temporal"] == 0.0 < final["temporal"], frame
        assert final["total"] < initial["total"], frame
    assert all(0.5 < frame["reliable_share"] <= 1.0 for frame in later)  # a pan: most pixels stay visible
    assert sorted(path.name for path in whole.with_suffix(".frames").iterdir()) == [
        f"frame_{index:05d}.png" for index in range(1, 7)]


def test_a_run_killed_after_frame_3_resumes_at_frame_4_with_the_same_output(clip, whole, tmp_path, monkeypatch):
    from keras_style.run import video as frames

    source, style = clip

    saved = frames.save_json

    def killed_after_frame_3(data, path):
        saved(data, path)
        if len(data["frames"]) == 3:
            raise KeyboardInterrupt  # as a kill: frame 3's PNG and record are on disk, nothing more

    monkeypatch.setattr(frames, "save_json", killed_after_frame_3)
    assert run_video(source, style, tmp_path / "resumed.mp4", *FAST)[0] == 130
    assert len(json.loads((tmp_path / "resumed.json").read_text())["frames"]) == 3
    assert not (tmp_path / "resumed.mp4").exists()
    monkeypatch.setattr(frames, "save_json", saved)
    status, stdout, err = run_video(source, style, tmp_path / "resumed.mp4", *FAST[:-1])
    assert status == 0, err
    assert "3 stylized" in stdout and "3 resumed" in stdout
    for index in range(1, 7):
        name = f"frame_{index:05d}.png"
        assert (tmp_path / "resumed.frames" / name).read_bytes() == (whole.with_suffix(".frames") / name).read_bytes()
    assert [np.asarray(frame).tobytes() for frame in open_clip(tmp_path / "resumed.mp4").iter_frames()] == [
        np.asarray(frame).tobytes() for frame in open_clip(whole).iter_frames()]


@pytest.mark.parametrize("case, fragment", [
    ("text", "not a video"),
    ("no frames", "has no frames"),
    ("codec", "cannot decode"),
    ("sizes", "every frame must have one size"),
    ("output format", "out.xyz"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(clip, tmp_path, case, fragment):
    source, style = clip
    output = tmp_path / "out" / "out.mp4"
    output.parent.mkdir()
    if case == "text":
        source = tmp_path / "notes.mp4"
        source.write_text("not a video at all\n")
    elif case == "no frames":
        source = write_no_frames(tmp_path / "nothing.mkv")
    elif case == "codec":
        source = write_undecodable(tmp_path)
    elif case == "sizes":
        source = tmp_path / "frames"
        source.mkdir()
        Image.fromarray(make_picture(64, 48)).save(source / "frame1.png")
        Image.fromarray(make_picture(60, 48)).save(source / "frame2.png")
    else:
        output = output.with_name("out.xyz")
    status, stdout, err = run_video(source, style, output, *FAST)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and fragment.lower() in lines[0].lower(), err
    assert lines[0].startswith("keras-style video: error: ")
    assert list(output.parent.iterdir()) == []
