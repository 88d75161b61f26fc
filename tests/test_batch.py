"""`keras-style batch`: jobs from folders and manifests, Ray workers, resuming, failures, the report and the sheet,
and --sequence's warm start.

One local Ray instance (2 CPUs) serves the module; most runs are in this process (TensorFlow loads once), and two
in subprocesses: the driver that is killed, and the in-process run compared with Ray's (its BLAS threads set before
numpy loads). Random weights (--weights none) at 48 px keep the runs short; the warm-start test uses the real ones.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_style.apps import batch, workers
from keras_style.apps.jobs import manifest_jobs, settings_tag
from keras_style.config.settings import Settings, declared_settings, flag

from .conftest import ROOT, make_picture, require

# Shallow layers: what the batch does with its jobs does not depend on them, and each job's steps are quick
SHALLOW = dict(style_layers=["conv1_1", "conv2_1"], content_layers=["conv2_2"])
SHALLOW_FLAGS = ["--style-layers", *SHALLOW["style_layers"], "--content-layers", *SHALLOW["content_layers"]]
FAST = ["--size", "48", "--iterations", "3", "--seed", "0", "--weights", "none", *SHALLOW_FLAGS]


def run_batch(*arguments) -> tuple[int, str, str]:
    """batch.main in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = batch.main([str(argument) for argument in arguments])
    return status, out.getvalue(), err.getvalue()


def report(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "batch.jsonl").read_text().splitlines()]


def published(folder: Path) -> list[Path]:
    """The sidecars in `folder` under their own names (not the temporary files they are written through)."""
    return [path for path in folder.glob("*__*.json") if not path.name.startswith(".")] if folder.is_dir() else []


def save_picture(path: Path, width: int, height: int, seed: int, kind: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_picture(width, height, seed=seed, kind=kind)).save(path)
    return path


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    """contents/{first,second}.png and styles/{stripes,blobs}.png."""
    folder = tmp_path_factory.mktemp("batch_inputs")
    save_picture(folder / "contents" / "first.png", 64, 48, 0, "content")
    save_picture(folder / "contents" / "second.png", 56, 56, 3, "content")
    save_picture(folder / "styles" / "stripes.png", 60, 40, 1, "style")
    save_picture(folder / "styles" / "blobs.png", 40, 60, 2, "style")
    return folder


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance with 2 CPUs for the module: the batch uses it (ray.is_initialized) and leaves it up."""
    ray = require("ray", "batch runs on Ray need the [batch] extra")
    sigterm = signal.getsignal(signal.SIGTERM)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()
    signal.signal(signal.SIGTERM, sigterm)  # ray.init leaves its own handler in place


@pytest.fixture(scope="module")
def ray_batch(ray_cluster, pictures, tmp_path_factory) -> tuple[Path, int, str]:
    """The 2 x 2 batch on two Ray workers of one thread each: (DIR, exit status, stderr)."""
    out = tmp_path_factory.mktemp("ray_batch")
    status, _, err = run_batch(pictures / "contents", "--styles", pictures / "styles", "--out", out, *FAST,
                               "--workers", "2", "--threads-per-worker", "1")
    return out, status, err


def test_ray_batch_writes_every_pair_then_skips_them_all(ray_batch, pictures, monkeypatch):
    out, status, err = ray_batch
    assert status == 0, err
    rows = report(out)
    assert [(Path(row["content"]).stem, Path(row["style"]).stem) for row in rows] == [
        ("first", "blobs"), ("first", "stripes"), ("second", "blobs"), ("second", "stripes")]
    tag = settings_tag(Settings.from_options(size=48, iterations=3, seed=0, weights="none", **SHALLOW))
    for row in rows:
        assert row["status"] == "done" and row["error"] is None and row["seconds"] > 0
        output = Path(row["output"])
        assert output.name == f"{Path(row['content']).stem}__{Path(row['style']).stem}__{tag}.png"
        assert Image.open(output).size == ((48, 36) if "first" in output.name else (48, 48))
        sidecar = json.loads(output.with_suffix(".json").read_text())
        assert sidecar["output"] == str(output) and sidecar["interrupted"] is False
        assert sidecar["settings"]["size"] == 48 and sidecar["settings"]["weights"] == "none"
        assert sidecar["losses"]["final"] == row["final_losses"]
        assert row["final_losses"]["total"] < sidecar["losses"]["initial"]["total"]
        assert sidecar["batch"]["inputs"]["content_sha256"] and sidecar["batch"]["inputs"]["style_sha256"]
    # two Ray workers, each building VGG once however many jobs it ran
    by_worker = {row["worker"]["pid"]: row["worker"] for row in rows}
    assert len(by_worker) == 2 and os.getpid() not in by_worker
    assert all(worker["vgg_builds"] == 1 for worker in by_worker.values())
    assert max(row["worker"]["jobs"] for row in rows) >= 2
    with Image.open(out / "contact_sheet.jpg") as sheet:  # 2 contents x 2 styles plus the headers
        assert sheet.format == "JPEG" and sheet.size == (3 * 128, 3 * 128)
    assert "4/4" in err and "done=4" in err  # the progress bar
    assert not [path for path in out.iterdir() if path.name.startswith(".")]  # no temporary files left

    # The same command again: every job is skipped and none runs (no worker is even started).
    mtimes = {path: path.stat().st_mtime_ns for path in out.glob("*__*")}

    def no_pool(*_args, **_kwargs):
        raise AssertionError("a worker pool was opened although every job was done")

    monkeypatch.setattr(batch, "open_pool", no_pool)
    status, stdout, err = run_batch(pictures / "contents", "--styles", pictures / "styles", "--out", out, *FAST,
                                    "--workers", "2")
    assert status == 0, err
    assert [row["status"] for row in report(out)] == ["skipped"] * 4
    assert {path: path.stat().st_mtime_ns for path in out.glob("*__*")} == mtimes
    assert "0 done, 4 skipped" in stdout and "skipped=4" in err


def test_in_process_outputs_match_ray_byte_for_byte(ray_batch, pictures, tmp_path):
    """--workers 1 runs the same jobs in its own process (here with --shared-output: the worker writes the pair). Its
    threads are the Ray workers' (1): numpy's BLAS, which scipy's L-BFGS-B runs on, adds in another order with
    another thread count, so a fresh process sets them before numpy loads, as Ray does for its workers."""
    ray_out, status, _ = ray_batch
    assert status == 0
    result = subprocess.run(
        [sys.executable, "-m", "keras_style", "batch", str(pictures / "contents"), "--styles", str(pictures / "styles"),
         "--out", str(tmp_path), *FAST, "--workers", "1", "--threads-per-worker", "1", "--shared-output", "--quiet"],
        env=dict(os.environ, **workers.thread_environment(1)), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = report(tmp_path)
    assert [row["status"] for row in rows] == ["done"] * 4
    assert len({row["worker"]["pid"] for row in rows}) == 1  # one process ran them all
    assert {row["worker"]["threads"] for row in rows} == {1}
    for row in rows:
        output = Path(row["output"])
        assert output.read_bytes() == (ray_out / output.name).read_bytes()


def test_corrupt_content_fails_its_job_and_the_batch_goes_on(pictures, tmp_path):
    contents = tmp_path / "contents"
    save_picture(contents / "good.png", 64, 48, 0, "content")
    (contents / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 20)
    out = tmp_path / "out"
    status, stdout, err = run_batch(contents, "--styles", pictures / "styles" / "stripes.png", "--out", out, *FAST,
                                    "--workers", "1")
    assert status == 3, err
    bad, good = report(out)  # natural order: bad.png, good.png
    assert bad["status"] == "failed" and bad["output"] is None
    assert bad["error"].startswith(f"content image {str(contents / 'bad.png')!r} is ")  # the path given, one line
    assert "\n" not in bad["error"] and "keras-style-job" not in bad["error"]
    assert good["status"] == "done" and Path(good["output"]).is_file()
    assert not list(out.glob("bad__*"))
    assert "1 done, 0 skipped (already done), 1 failed" in stdout
    assert "job failed" in err and "bad.png" in err and "1 of 2 jobs failed" in err
    assert (out / "contact_sheet.jpg").is_file()


def test_killed_driver_resumes_without_redoing_finished_jobs(pictures, tmp_path):
    contents = tmp_path / "contents"
    for number in range(4):
        save_picture(contents / f"frame{number}.png", 56 + 2 * number, 48, number, "content")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "keras_style", "batch", str(contents), "--styles",
               str(pictures / "styles" / "stripes.png"), "--out", str(out), "--size", "48", "--iterations", "4",
               "--weights", "none", "--workers", "1", "--quiet", *SHALLOW_FLAGS]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    driver = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not published(out):  # the sidecar is published after its image: the pair is complete
        assert driver.poll() is None, driver.stderr.read().decode()
        assert time.monotonic() < deadline, "no output appeared"
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    driver.stderr.close()
    finished = {path.with_suffix(".png"): path.with_suffix(".png").stat().st_mtime_ns for path in published(out)}
    assert 1 <= len(finished) < 4 and not (out / "batch.jsonl").exists()

    status, _, err = run_batch(*command[4:])  # the same command again, in this process (TensorFlow is loaded)
    assert status == 0, err
    rows = report(out)
    assert len(rows) == 4
    for row in rows:
        output = Path(row["output"])
        assert row["status"] == ("skipped" if output in finished else "done")
        if output in finished:
            assert output.stat().st_mtime_ns == finished[output]
    assert len(list(out.glob("*__*.png"))) == 4


def test_sequence_frame_starts_from_the_previous_result(real_weights, pictures, tmp_path):
    from keras_style.files.images import load_image, resize, to_array
    from keras_style.run.loading import prepare
    from keras_style.run.transfer import stylize_result

    frames = tmp_path / "frames"
    frames.mkdir()
    first = make_picture(64, 48)
    Image.fromarray(first).save(frames / "frame1.png")
    Image.fromarray(np.roll(first, 3, axis=1)).save(frames / "frame2.png")  # the scene moved 3 px
    style = pictures / "styles" / "stripes.png"
    out = tmp_path / "out"
    status, _, err = run_batch(frames, "--styles", style, "--out", out, "--sequence", "--size", "48",
                               "--iterations", "20", "--seed", "0", "--workers", "1", "--quiet")
    assert status == 0, err
    row1, row2 = report(out)
    assert (row1["warm_start"], row2["warm_start"]) == (False, True)
    sidecar = json.loads(Path(row2["output"]).with_suffix(".json").read_text())
    first_output = hashlib.sha256(Path(row1["output"]).read_bytes()).hexdigest()
    assert sidecar["batch"]["sequence"] == {"blend": 0.5, "warm_start": True, "start_sha256": first_output}

    # The start frame 2 should have had, computed here: half frame 1's result, half frame 2, at the output size.
    settings = Settings.from_options(size=48, iterations=1, seed=0)
    prepared = prepare(frames / "frame2.png", [style], settings)
    height, width = prepared.final.content.shape[:2]
    result1 = to_array(resize(load_image(row1["output"]), width, height))
    frame2 = to_array(resize(load_image(frames / "frame2.png"), width, height))
    blended = prepared.with_final(prepared.final._replace(start=0.5 * result1 + 0.5 * frame2))
    expected = stylize_result(None, None, settings=settings, prepared=blended).losses["initial"]
    assert sidecar["losses"]["initial"] == pytest.approx(expected, rel=1e-5)
    cold = stylize_result(frames / "frame2.png", [style], settings=settings).losses["initial"]
    assert sidecar["losses"]["initial"]["total"] < cold["total"]  # the warm start is further along


def test_manifest_rows_override_the_command_and_dry_run_lists_them(pictures, tmp_path, capsys):
    (tmp_path / "jobs.csv").write_text(
        "content,style,size,style_weight\n"
        f"{pictures}/contents/first.png,{pictures}/styles/stripes.png,64,\n"
        f"{pictures}/contents/first.png,{pictures}/styles/stripes.png,,10\n")
    (tmp_path / "jobs.jsonl").write_text(
        json.dumps({"content": "../" + pictures.name + "/contents/second.png",  # relative to the manifest
                    "style": str(pictures / "styles" / "blobs.png"), "style-layers": ["conv1_1", "conv2_1"],
                    "xla": False, "output": "named.jpg"}) + "\n")
    base = {"iterations": 7, "size": 48}
    first, second = manifest_jobs(tmp_path / "jobs.csv", base, tmp_path / "out", ".png")
    default_weight = Settings.from_options().style_weight  # the default preset's
    assert (first.settings.size, first.settings.style_weight, first.settings.iterations) == (64, default_weight, 7)
    assert (second.settings.size, second.settings.style_weight) == (48, 10.0)
    assert first.overrides == {"size": 64} and second.overrides == {"style_weight": 10.0}
    assert first.output != second.output and first.output.name.startswith("first__stripes__")
    (row,) = manifest_jobs(tmp_path / "jobs.jsonl", base, tmp_path / "out", ".png")
    assert row.output == tmp_path / "out" / "named.jpg" and Path(row.content).resolve().is_file()
    assert row.settings.style_layers == ("block1_conv1", "block2_conv1") and row.settings.jit_compile is False

    status = batch.main(["--manifest", str(tmp_path / "jobs.csv"), "--out", str(tmp_path / "out"), "--iterations",
                         "7", "--size", "48", "--dry-run"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0 and not (tmp_path / "out").exists()
    assert lines[0] == f"run  {first.pair} -> {first.output}  [size=64]"
    assert lines[1] == f"run  {second.pair} -> {second.output}  [style_weight=10.0]"
    assert lines[2] == "2 jobs: 2 to run, 0 already done"


def dry_run_states(arguments: list, capsys) -> list[str]:
    """--dry-run's first word per job: done, run or held."""
    capsys.readouterr()
    assert batch.main([str(argument) for argument in arguments] + ["--dry-run"]) == 0
    return [line.split()[0] for line in capsys.readouterr().out.splitlines()[:-1]]


def test_dry_run_shows_what_is_done_what_changed_and_what_another_job_holds(pictures, tmp_path, monkeypatch,
                                                                              capsys):
    """Resuming compares settings and the inputs' bytes, not only names; an output that another job wrote (another
    folder's first.png) is not replaced without --force. Without Ray: the jobs run in this process, and its pool
    reads each input when its job runs instead of holding the style's bytes for the whole batch."""
    contents = tmp_path / "contents"
    contents.mkdir()
    for name in ("first.png", "second.png"):
        (contents / name).write_bytes((pictures / "contents" / name).read_bytes())
    style = pictures / "styles" / "stripes.png"
    out = tmp_path / "out"
    arguments = [contents, "--styles", style, "--out", out, *FAST, "--workers", "1", "--quiet"]
    staged = []
    stage = workers.InProcessPool.stage
    monkeypatch.setattr(workers.InProcessPool, "stage", lambda pool, *given: staged.append(stage(pool, *given))
                        or staged[-1])
    status, _, err = run_batch(*arguments)
    assert status == 0, err
    assert len(staged) == 3 and not [value for value in staged if isinstance(value, bytes) or b"" in value]

    assert dry_run_states(arguments, capsys) == ["done", "done"]
    assert dry_run_states([*arguments, "--iterations", "4"], capsys) == ["run", "run"]  # other settings, names
    save_picture(contents / "second.png", 56, 56, 9, "style")  # edited in place: the same job, to run again
    assert dry_run_states(arguments, capsys) == ["done", "run"]

    elsewhere = save_picture(tmp_path / "elsewhere" / "first.png", 64, 48, 7, "style")  # same name, other picture
    others = [elsewhere, *arguments[1:]]
    assert dry_run_states(others, capsys) == ["held"]
    (ours,) = out.glob("first__stripes__*.png")
    before = ours.read_bytes()
    status, stdout, err = run_batch(*others)
    assert status == 3
    (row,) = report(out)
    assert row["status"] == "failed" and ours.read_bytes() == before
    assert row["error"] == (f"not run: {ours.name} belongs to the job {contents / 'first.png'} x {style}: --force "
                            "replaces it, or choose another --out")
    status, _, err = run_batch(*others, "--force")
    assert status == 0, err
    assert ours.read_bytes() != before
    assert json.loads(ours.with_suffix(".json").read_text())["batch"]["content"] == str(elsewhere)


def test_an_edited_mask_or_frame_reruns_exactly_the_jobs_that_read_it(pictures, tmp_path, capsys):
    """3 contents x 2 styles: as a manifest where one job has a mask, then as a --sequence (one video per style)
    with a mask. After the mask, then one frame, is edited, --dry-run lists exactly the jobs that must run again,
    and the rerun runs those and skips the others."""
    frames = tmp_path / "frames"
    for number in (1, 2, 3):
        save_picture(frames / f"frame{number}.png", 64, 48, number, "style")
    styles = [pictures / "styles" / "stripes.png", pictures / "styles" / "blobs.png"]
    mask = tmp_path / "mask.png"
    mask_pixels = np.zeros((48, 64), np.uint8)
    mask_pixels[:, :32] = 255
    Image.fromarray(mask_pixels).save(mask)
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("content,style,content_mask\n" + "".join(
        f"frames/frame{number}.png,{style},{'mask.png' if (number, style) == (1, styles[0]) else ''}\n"
        for number in (1, 2, 3) for style in styles))

    def rerun(arguments: list) -> list[str]:
        status, _, err = run_batch(*arguments)
        assert status == 0, err
        return [row["status"] for row in report(arguments[arguments.index("--out") + 1])]

    listed = ["--manifest", manifest, "--out", tmp_path / "listed", *FAST, "--workers", "1", "--quiet"]
    assert rerun(listed) == ["done"] * 6
    assert dry_run_states(listed, capsys) == ["done"] * 6
    Image.fromarray(255 - mask_pixels).save(mask)  # the masked job reads it: it alone runs again
    assert dry_run_states(listed, capsys) == ["run"] + ["done"] * 5
    assert rerun(listed) == ["done"] + ["skipped"] * 5

    video = [frames, "--styles", *styles, "--out", tmp_path / "video", "--sequence", "--content-mask", mask, *FAST,
             "--workers", "1", "--quiet"]
    assert rerun(video) == ["done"] * 6
    save_picture(frames / "frame2.png", 64, 48, 8, "style")  # frame 2 edited: frame 3 started from its result
    assert dry_run_states(video, capsys) == ["done", "run", "run"] * 2
    assert rerun(video) == ["skipped", "done", "done"] * 2
    Image.fromarray(mask_pixels).save(mask)  # every frame reads the mask
    assert dry_run_states(video, capsys) == ["run"] * 6
    assert rerun(video) == ["done"] * 6
    assert dry_run_states(video, capsys) == ["done"] * 6


def test_dry_run_prints_names_that_are_not_utf8_under_a_strict_stdout(pictures, tmp_path):
    contents = tmp_path / "contents"
    contents.mkdir()
    (contents / os.fsdecode(b"fr\xffme.png")).write_bytes((pictures / "contents" / "first.png").read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "keras_style", "batch", str(contents), "--styles", str(pictures / "styles"), "--out",
         str(tmp_path / "out"), "--dry-run"], env=dict(os.environ, PYTHONIOENCODING="utf-8:strict"), cwd=ROOT,
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"run  {contents}/fr\\udcffme.png x ")
    assert lines[-1] == "2 jobs: 2 to run, 0 already done"


@pytest.mark.parametrize("arguments, fragment", [
    (["--styles", "s.png", "--out", "o"], "give CONTENT files or folders and --styles, or --manifest FILE"),
    (["c.png", "--out", "o"], "--styles STYLE... is required"),
    (["c.png", "--styles", "s.png"], "--out DIR is required"),
    (["missing.png", "--styles", "s.png", "--out", "o"], "content 'missing.png' does not exist"),
    (["c.png", "--styles", "s.png", "--out", "o", "--workers", "0"], "--workers must be at least 1"),
    (["c.png", "--styles", "s.png", "--out", "o", "--style-weight", "-1"], "--style-weight must be a finite"),
    (["c.png", "--styles", "s.png", "--out", "o", "--sequence", "--scales", "2"], "--sequence needs --scales 1"),
    (["c.png", "--styles", "s.png", "--out", "o", "--bogus"], "unrecognized arguments: --bogus"),
    (["--manifest", "jobs.csv", "--out", "o"], "jobs.csv:2: unknown column(s) colour"),
])
def test_bad_usage_exits_2_with_one_line(arguments, fragment, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    save_picture(tmp_path / "c.png", 64, 48, 0, "content")
    save_picture(tmp_path / "s.png", 64, 48, 1, "style")
    (tmp_path / "jobs.csv").write_text("content,style,colour\nc.png,s.png,red\n")
    assert batch.main(arguments) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines
    assert not (tmp_path / "o").exists()


def test_more_workers_without_ray_says_how_to_install_it(pictures, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(workers, "ray_available", lambda: False)
    arguments = [str(pictures / "contents"), "--styles", str(pictures / "styles"), "--out", str(tmp_path), *FAST]
    for extra in (["--workers", "2"], ["--address", "auto"]):
        assert batch.main([*arguments, *extra]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert 'needs Ray, which is not installed: pip install -e ".[batch]"' in line


def test_help_lists_every_setting_of_the_single_image_command(capsys):
    assert batch.main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for declared in declared_settings():
        assert flag(declared) in text
    for option in ("--styles", "--out", "--manifest", "--dry-run", "--workers", "--threads-per-worker", "--address",
                   "--shared-output", "--sequence", "--sequence-blend", "--force"):
        assert option in text
    assert "optical flow" in text and 'pip install -e ".[batch]"' in text


def test_worker_layout_fills_the_machine_without_oversubscribing_it():
    assert workers.worker_layout(cpus=2, gpus=0, workers=None, threads=None, lanes=4) == (2, 1)
    assert workers.worker_layout(cpus=2, gpus=0, workers=None, threads=None, lanes=1) == (1, 2)
    assert workers.worker_layout(cpus=2, gpus=0, workers=1, threads=None, lanes=4) == (1, 2)
    assert workers.worker_layout(cpus=16, gpus=0, workers=None, threads=4, lanes=9) == (4, 4)
    assert workers.worker_layout(cpus=16, gpus=0, workers=None, threads=None, lanes=40, memory_workers=6) == (6, 2)
    assert workers.worker_layout(cpus=32, gpus=4, workers=None, threads=None, lanes=40) == (4, 8)  # one per GPU

