"""Batch resume without Ray (apps/jobs.py): every input file a job reads is hashed, and an output is finished only
when it decodes whole."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from keras_style.apps.jobs import Job, finished, job_inputs, settings_record
from keras_style.config.settings import Settings
from keras_style.files.outputs import sidecar_path


def picture(path: Path, seed: int) -> Path:
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


def test_an_edited_mask_or_init_file_changes_the_jobs_inputs(tmp_path):
    content, style = picture(tmp_path / "c.png", 0), picture(tmp_path / "s.png", 1)
    mask, start = picture(tmp_path / "mask.png", 2), picture(tmp_path / "start.png", 3)
    settings = Settings.from_options(content_mask=str(mask), init=str(start))
    job = Job(0, str(content), str(style), tmp_path / "out.png", settings)
    before = job_inputs(job)
    assert set(before) == {"content_sha256", "style_sha256", "init_sha256", "content_mask_sha256"}
    picture(mask, 4)  # the same name, other pixels
    after_mask = job_inputs(job)
    assert after_mask["content_mask_sha256"] != before["content_mask_sha256"]
    picture(start, 5)
    assert job_inputs(job)["init_sha256"] != after_mask["init_sha256"]
    # a named start is not a file
    named = Job(0, str(content), str(style), tmp_path / "out.png", Settings.from_options(init="mean"))
    assert set(job_inputs(named)) == {"content_sha256", "style_sha256"}


def test_a_truncated_output_is_not_finished(tmp_path):
    content, style = picture(tmp_path / "c.png", 0), picture(tmp_path / "s.png", 1)
    settings = Settings.from_options()
    for suffix in (".jpg", ".tiff"):
        output = tmp_path / f"out{suffix}"
        job = Job(0, str(content), str(style), output, settings)
        Image.open(picture(tmp_path / "whole.png", 6)).resize((256, 192)).save(output)
        record = {"interrupted": False, "settings": settings_record(settings), "batch": {"inputs": job_inputs(job)}}
        sidecar_path(output).write_text(json.dumps(record))
        assert finished(job) == record
        whole = output.read_bytes()
        output.write_bytes(whole[: len(whole) * 2 // 3])  # a write cut short
        assert finished(job) is None, suffix


def test_a_sequence_frame_is_finished_only_while_the_frame_it_started_from_is_unchanged(tmp_path):
    from keras_style.apps.jobs import fingerprint, sequence_checked

    settings = Settings.from_options(scales=1)
    outputs = [picture(tmp_path / f"out{index}.png", index) for index in range(3)]
    jobs = [Job(index, f"frame{index}.png", "s.png", outputs[index], settings, previous=index - 1 if index else None,
                blend=0.5) for index in range(3)]

    def record(start: Path | None) -> dict:
        return {"batch": {"sequence": {"blend": 0.5, "warm_start": start is not None,
                                       "start_sha256": fingerprint(str(start)) if start else None}}}

    done = {0: record(None), 1: record(outputs[0]), 2: record(outputs[1])}
    assert sequence_checked(jobs, done) == done
    # frame 1 must run again (edited): frame 2, which started from its old result, must too
    assert sorted(sequence_checked(jobs, {0: done[0], 2: done[2]})) == [0]
    # frame 0's output changed since frame 1 started from it: 1 and 2 run again
    picture(outputs[0], 9)
    assert sorted(sequence_checked(jobs, done)) == [0]
    # a frame that started cold because its previous frame had failed runs again once that frame is done
    cold = {0: record(None), 1: record(None)}
    assert sorted(sequence_checked(jobs, cold)) == [0]


def test_a_missing_extra_fails_in_ci_and_skips_elsewhere(monkeypatch):
    import pytest

    from .conftest import require

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require("no_such_module_here", "an extra")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no_such_module_here is not installed"):
        require("no_such_module_here", "an extra")
    assert require("json", "always there").dumps([]) == "[]"


def test_the_web_extra_asks_for_the_gradio_the_page_needs():
    """The page calls launch(footer_links=...) and api_visibility=, which Gradio 6 introduced."""
    import configparser

    from packaging.requirements import Requirement

    from .conftest import ROOT

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    web = [Requirement(line) for line in config["options.extras_require"]["web"].split("\n") if line.strip()]
    (gradio,) = [requirement for requirement in web if requirement.name == "gradio"]
    assert "5.49.1" not in gradio.specifier and "6.0.0" in gradio.specifier


def test_natural_order_takes_any_name():
    from keras_style.apps.jobs import natural_key

    names = ["frame10.png", "frame2.png", "frame1²2.png", "frame1.png"]
    assert sorted(names, key=lambda name: natural_key(Path(name))) == [
        "frame1.png", "frame1²2.png", "frame2.png", "frame10.png"]


def test_reserved_and_overlong_names(tmp_path):
    import pytest

    from keras_style.apps.jobs import MAX_NAME_BYTES, manifest_jobs, output_name
    from keras_style.errors import UserError

    picture(tmp_path / "c.png", 0)
    picture(tmp_path / "s.png", 1)
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("content,style,output\nc.png,s.png,contact_sheet.jpg\n")
    with pytest.raises(UserError, match="jobs.csv:2: output 'contact_sheet.jpg' is the batch's own"):
        manifest_jobs(manifest, {}, tmp_path / "out", ".png")
    long = "é" * 100
    name = output_name(f"{long}.jpg", "s.jpg", "1a2b3c4d", ".png")
    assert len(name.encode()) <= MAX_NAME_BYTES and name.endswith(".png") and name.startswith("é" * 20)
    assert name != output_name(f"{long}x.jpg", "s.jpg", "1a2b3c4d", ".png")  # the hash keeps them apart
    (tmp_path / name).write_bytes(b"")  # the file system takes it
    assert output_name("photo.jpg", "starry.jpg", "", ".png") == "photo__starry.png"


def test_the_contact_sheet_stays_within_jpegs_limit_with_thousands_of_styles(tmp_path):
    from keras_style.apps.batch import contact_sheet

    settings = Settings.from_options()
    content = picture(tmp_path / "c.png", 0)
    jobs = [Job(index, str(content), f"style{index}.png", tmp_path / f"out{index}.png", settings)
            for index in range(4100)]
    contact_sheet(jobs, {}, tmp_path / "sheet.jpg")
    with Image.open(tmp_path / "sheet.jpg") as sheet:
        assert 0 < sheet.width <= 65500 and sheet.height <= 65500


def test_names_that_collide_are_told_apart_instead_of_refusing_the_batch(tmp_path):
    """x.jpg beside x.png, a/x.png beside b/x.png, and a__b + c against a + b__c: each job keeps its own file (and
    its own sidecar); names nobody else takes stay plain."""
    from keras_style.apps.jobs import pair_jobs

    inputs = tmp_path / "in"
    for name in ("x.jpg", "x.png", "a/x.png", "b/x.png", "a__b.png", "a.png", "c.png", "b__c.png", "y.png"):
        (inputs / name).parent.mkdir(parents=True, exist_ok=True)
        picture(inputs / name, len(name))
    out = tmp_path / "out"
    settings = Settings.from_options()
    contents = [inputs / name for name in ("x.jpg", "x.png", "a/x.png", "b/x.png", "a__b.png", "a.png", "y.png")]
    jobs = pair_jobs(contents, [inputs / "c.png", inputs / "b__c.png"], settings, out, ".png")
    names = [job.output.name for job in jobs]
    assert len({sidecar_path(job.output) for job in jobs}) == len(jobs) == 14
    assert "y__c.png" in names and "y__b__c.png" in names  # no collision: the plain name
    assert {name for name in names if name.startswith(("x_jpg__c_png__", "x_png__c_png__"))} and all(
        not name.startswith("x__") for name in names)
    # the same inputs name the same files on the next run (resume finds them)
    assert names == [job.output.name for job in pair_jobs(contents, [inputs / "c.png", inputs / "b__c.png"],
                                                          settings, out, ".png")]


def test_a_manifest_listing_one_output_twice_is_refused(tmp_path):
    import pytest

    from keras_style.apps.jobs import manifest_jobs
    from keras_style.errors import UserError

    picture(tmp_path / "c.png", 0)
    picture(tmp_path / "s.png", 1)
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("content,style,output\nc.png,s.png,same.png\nc.png,s.png,same.jpg\n")
    with pytest.raises(UserError, match="would both write"):  # same.png and same.jpg share same.json
        manifest_jobs(manifest, {}, tmp_path / "out", ".png")


def test_an_output_belongs_to_the_job_its_sidecar_names(tmp_path):
    from keras_style.apps.jobs import owner

    content, style = picture(tmp_path / "c.png", 0), picture(tmp_path / "s.png", 1)
    job = Job(0, str(content), str(style), tmp_path / "out" / "c__s.png", Settings.from_options())
    job.output.parent.mkdir()
    assert owner(job) is None  # nothing there
    job.output.write_bytes(b"an image")
    assert owner(job) is None  # no sidecar: nobody's (a half-written pair)

    def sidecar(**batch) -> None:
        record = {"output": str(job.output), "batch": batch} if batch else {"output": str(job.output)}
        sidecar_path(job.output).write_text(json.dumps(record))

    sidecar(content=str(content), style=str(style), inputs={})
    assert owner(job) is None  # this job's own, whatever its inputs' bytes were
    (tmp_path / "other").mkdir()
    other = picture(tmp_path / "other" / "c.png", 5)
    sidecar(content=str(other), style=str(style), inputs=job_inputs(Job(0, str(other), str(style), job.output,
                                                                        job.settings)))
    assert owner(job) == f"the job {other} x {style}"  # another batch's c.png, other pixels
    (tmp_path / "moved").mkdir()
    moved = tmp_path / "moved" / "c.png"
    moved.write_bytes(content.read_bytes())
    sidecar(content=str(moved), style=str(style), inputs=job_inputs(job))
    assert owner(job) is None  # the same bytes from another folder: the same job
    sidecar()
    assert owner(job) == "a single-image run"
    sidecar_path(job.output).write_text(json.dumps({"output": str(job.output.with_suffix(".jpg")), "batch": {}}))
    assert owner(job) == "c__s.jpg, whose sidecar is c__s.json"


def test_outputs_in_another_precision_are_not_finished_when_auto_resolves_otherwise(tmp_path):
    content, style = picture(tmp_path / "c.png", 0), picture(tmp_path / "s.png", 1)
    for precision, expected in (("auto", None), ("float32", "kept")):
        settings = Settings.from_options(precision=precision)
        job = Job(0, str(content), str(style), picture(tmp_path / "out.png", 2), settings)
        record = {"interrupted": False, "settings": settings_record(settings), "compute": {"precision": "float32"},
                  "batch": {"inputs": job_inputs(job)}}
        sidecar_path(job.output).write_text(json.dumps(record))
        assert finished(job, "float32") == record and finished(job) == record
        # auto now means bfloat16 here (other hardware, or a resumed batch moved): run again; an explicit
        # precision is compared as a setting, not resolved
        assert (finished(job, "mixed") and "kept") == expected
