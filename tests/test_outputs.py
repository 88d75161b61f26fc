"""Writes that never surprise: permissions, no file replaced without --force (not even one that appears during the
run), image and sidecar as a pair, snapshots like OUTPUT, a failed snapshot that does not cost the run, data synced
before the rename, a format Pillow cannot write refused before the run, and a failed write that changes nothing."""
import errno
import io
import json
import os
import stat
import types
from pathlib import Path

import pytest
from PIL import Image

import keras_style.run.transfer
from keras_style.apps import cli
from keras_style.apps.callbacks import Snapshots
from keras_style.files import outputs
from keras_style.files.outputs import save_image, save_result

from .conftest import make_picture

RANDOM = ["--weights", "none", "--size", "64", "--iterations", "2", "--quiet"]


@pytest.fixture
def command(content_path, style_path, restore_signals):
    """cli.main in this process on random weights: command(OUTPUT, *options) -> exit code."""
    def run(output: Path, *options: str) -> int:
        return cli.main([str(content_path), str(style_path), str(output), *RANDOM, *options])

    return run


def program_lines(text: str) -> list[str]:
    """The lines this command printed on stderr (TensorFlow may add its own)."""
    return [line for line in text.splitlines() if line.startswith(f"{cli.PROGRAM}:")]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def temporaries(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if path.name.startswith(".")]


# 1. A failed --save-every write warns once and costs neither the run nor its final save.

def _missing_folder_snapshot(monkeypatch, tmp_path, attempts):
    def gone(output, evaluation):
        attempts.append(evaluation)
        return tmp_path / "removed" / f"snapshot_{evaluation:04d}.png"  # as if the folder was removed mid-run

    monkeypatch.setattr(outputs, "snapshot_path", gone)


def _unencodable_snapshot(monkeypatch, tmp_path, attempts):
    def fails(image, path, replace=False):
        attempts.append(path)
        raise ValueError("cannot encode this picture")

    monkeypatch.setattr(outputs, "save_image", fails)


@pytest.mark.parametrize("failure", [_missing_folder_snapshot, _unencodable_snapshot], ids=["OSError", "ValueError"])
def test_a_failed_snapshot_warns_once_and_the_run_finishes(failure, command, tmp_path, monkeypatch, capsys):
    attempts = []
    failure(monkeypatch, tmp_path, attempts)
    output = tmp_path / "out.png"
    assert command(output, "--iterations", "4", "--save-every", "1") == 0
    lines = program_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("keras-style: warning: could not save snapshot"), lines
    assert len(attempts) == 1  # no more snapshots after the first failure
    assert Image.open(output).size == (64, 51)
    assert json.loads(output.with_suffix(".json").read_text())["evaluations"] >= 4


def _event(evaluation: int) -> types.SimpleNamespace:
    return types.SimpleNamespace(evaluation=evaluation, best_image=lambda: make_picture(40, 32))


def test_a_snapshot_name_taken_during_the_run_is_not_replaced(tmp_path, capsys):
    taken = tmp_path / "out_0002.png"
    taken.write_bytes(b"another run's snapshot")
    snapshots = Snapshots(tmp_path / "out.png", 2)  # without --force
    for evaluation in range(1, 7):
        snapshots(_event(evaluation))
    assert taken.read_bytes() == b"another run's snapshot"
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "out_0002.png" in lines[0] and "File exists" in lines[0], lines
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out_0002.png"]  # none after the failure


# 2. Permissions: the umask's for a new file, the replaced file's under --force.

@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o002, 0o664)], ids=["022", "002"])
def test_outputs_get_the_permissions_the_umask_gives(umask, expected, command, tmp_path):
    output = tmp_path / "out.png"
    previous = os.umask(umask)
    try:
        assert command(output, "--save-every", "1") == 0
    finally:
        os.umask(previous)
    for path in (output, output.with_suffix(".json"), tmp_path / "out_0001.png"):
        assert mode(path) == expected, path.name


def test_force_keeps_the_permissions_of_the_replaced_files(command, tmp_path):
    output = tmp_path / "out.png"
    kept = {output: 0o640, output.with_suffix(".json"): 0o604, tmp_path / "out_0001.png": 0o660}
    for path, permissions in kept.items():
        path.write_bytes(b"old")
        path.chmod(permissions)
    assert command(output, "--save-every", "1", "--force") == 0
    for path, permissions in kept.items():
        assert path.read_bytes() != b"old" and mode(path) == permissions, path.name


# 3. A file that appears during the run is never replaced without --force; image and sidecar stay a pair.

@pytest.mark.parametrize("appearing, stem", [
    (["out.png"], "out-1"),
    (["out.json"], "out-1"),  # our image must not stand beside another run's sidecar
    (["out.png", "out.json", "out-1.png"], "out-2"),
])
def test_an_output_that_appears_during_the_run_is_not_replaced(appearing, stem, command, tmp_path, monkeypatch,
                                                                capsys):
    real = keras_style.run.transfer.run_plan

    def then_another_run_writes(*args, **kwargs):
        result = real(*args, **kwargs)
        for name in appearing:  # after check_output, before the final save
            (tmp_path / name).write_bytes(b"another run's")
        return result

    monkeypatch.setattr(keras_style.run.transfer, "run_plan", then_another_run_writes)
    output = tmp_path / "out.png"
    assert command(output) == 0
    for name in appearing:
        assert (tmp_path / name).read_bytes() == b"another run's", name
    image, record = tmp_path / f"{stem}.png", tmp_path / f"{stem}.json"
    assert Image.open(image).size == (64, 51)
    assert json.loads(record.read_text())["output"] == str(image)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([*appearing, image.name, record.name])
    lines = program_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "warning" in lines[0] and str(image) in lines[0] and str(record) in lines[0], lines


def test_save_result_replaces_with_force(tmp_path):
    output = tmp_path / "out.png"
    output.write_bytes(b"old")
    written = save_result(make_picture(40, 32), lambda path: {"output": str(path)}, output, force=True)
    assert written == output and Image.open(output).size == (40, 32)
    assert json.loads(output.with_suffix(".json").read_text()) == {"output": str(output)}
    assert not temporaries(tmp_path)


def test_without_hard_links_an_existing_file_is_still_not_replaced(tmp_path, monkeypatch):
    def no_hard_links(source, target):
        raise PermissionError(errno.EPERM, "Operation not permitted")  # what link(2) says on FAT

    monkeypatch.setattr(os, "link", no_hard_links)
    (tmp_path / "out.png").write_bytes(b"another run's")
    written = save_result(make_picture(40, 32), lambda path: {"output": str(path)}, tmp_path / "out.png", force=False)
    assert written == tmp_path / "out-1.png" and Image.open(written).size == (40, 32)
    assert (tmp_path / "out.png").read_bytes() == b"another run's"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out-1.json", "out-1.png", "out.png"]


# 4. Snapshots are treated like OUTPUT: an existing one is refused before the run, unless --force.

def test_an_existing_snapshot_needs_force(command, tmp_path, capsys):
    output = tmp_path / "out.png"
    snapshot = tmp_path / "out_0002.png"
    snapshot.write_bytes(b"precious")
    assert command(output, "--save-every", "2") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "out_0002.png" in lines[0] and "--force" in lines[0], lines
    assert snapshot.read_bytes() == b"precious" and not output.exists()
    assert command(output, "--save-every", "2", "--force") == 0
    assert Image.open(snapshot).size == (64, 51)


# 5. The data reaches the disk before the rename.

def test_data_is_synced_before_the_rename(tmp_path, monkeypatch):
    real_fsync, synced = os.fsync, []

    def recording_fsync(descriptor):
        real_fsync(descriptor)
        synced.append((os.fstat(descriptor).st_size, sorted(path.name for path in tmp_path.iterdir())))

    monkeypatch.setattr(os, "fsync", recording_fsync)
    path = tmp_path / "picture.png"
    save_image(make_picture(40, 32), path)
    assert len(synced) == 1
    size, names_then = synced[0]
    assert size == path.stat().st_size > 0
    assert path.name not in names_then  # synced while still the temporary file
    save_result(make_picture(40, 32), lambda image: {"output": str(image)}, tmp_path / "out.png", force=False)
    assert len(synced) == 3  # the image and its sidecar


# 6. A format this Pillow build cannot write is refused before the run.

def _no_webp_writer(monkeypatch):
    Image.init()
    monkeypatch.delitem(Image.SAVE, "WEBP")  # Pillow built without libwebp


def _no_jpeg_encoder(monkeypatch):
    monkeypatch.delattr(Image.core, "jpeg_encoder")  # Pillow built without libjpeg registers JPEG all the same


@pytest.mark.parametrize("suffix, missing", [(".webp", _no_webp_writer), (".jpg", _no_jpeg_encoder)],
                         ids=["webp", "jpeg"])
def test_a_format_pillow_cannot_write_is_refused_before_the_run(suffix, missing, command, tmp_path, monkeypatch,
                                                               capsys):
    missing(monkeypatch)
    folder = tmp_path / "results"
    folder.mkdir()
    assert command(folder / f"out{suffix}") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "cannot write" in lines[0] and suffix in lines[0], lines
    assert not list(folder.iterdir())


# 7. The failure paths: a write that fails midway, a sidecar alone.

def test_a_write_that_fails_midway_keeps_the_old_output_and_leaves_no_temporary(command, tmp_path, monkeypatch,
                                                                               capsys):
    output = tmp_path / "out.png"
    output.write_bytes(b"old image")
    output.with_suffix(".json").write_bytes(b"old record")
    real_save = Image.Image.save

    def disk_fills_up(self, fp, *args, **kwargs):
        if isinstance(fp, io.BytesIO):  # check_output's trial encoding
            return real_save(self, fp, *args, **kwargs)
        fp.write(b"half an ima")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_fills_up)
    assert command(output, "--force") == 1
    lines = program_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "No space left on device" in lines[0], lines
    assert output.read_bytes() == b"old image"
    assert output.with_suffix(".json").read_bytes() == b"old record"
    assert not temporaries(tmp_path)


def test_an_existing_sidecar_alone_blocks_the_run(command, tmp_path, capsys):
    output = tmp_path / "out.png"
    record = tmp_path / "out.json"
    record.write_bytes(b"another run's record")
    assert command(output) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "out.json" in lines[0] and "--force" in lines[0], lines
    assert record.read_bytes() == b"another run's record" and not output.exists()
