"""The command line as a user meets it: success, sidecar, every bad input, --force, signals, determinism."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import keras_style
from keras_style.apps import cli
from keras_style.config.presets import PRESETS
from keras_style.config.settings import Settings
from keras_style.files.outputs import FORMATS, save_image
from keras_style.run.assemble import AUTO_CPU_OPTIMIZER

from .conftest import ROOT, make_picture, run_cli
from .test_budgets import run_main

FAST = ["--size", "48", "--iterations", "4", "--quiet"]
SIDECAR_KEYS = {"settings", "versions", "weights_file", "sizes", "evaluations", "seconds", "losses", "term_weights"}


def assert_one_line_error(result, fragment: str, *unwritten: Path) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and fragment in lines[0], lines
    for path in unwritten:
        assert not path.exists()
        assert not path.with_suffix(".json").exists()


def test_success_writes_image_and_sidecar(real_weights, content_path, style_path, tmp_path, capsys):
    output = tmp_path / "out.png"
    status = run_main(content_path, style_path, output, "--size", "64", "--iterations", "6", "--network", "vgg16")
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert "wrote" in printed.out
    assert "eval" in printed.err  # the tqdm progress bar
    picture = Image.open(output)
    assert picture.size == (64, 51) and picture.mode == "RGB"
    report = json.loads(output.with_suffix(".json").read_text())
    assert SIDECAR_KEYS <= set(report)
    assert report["settings"]["network"] == "vgg16" and report["settings"]["size"] == 64
    assert set(report["versions"]) == {"keras", "tensorflow", "keras_style"} and all(report["versions"].values())
    assert report["weights_file"].endswith(".h5") and "vgg16_" in report["weights_file"]
    assert report["sizes"]["output"] == [64, 51] and report["sizes"]["content"] == [64, 51]
    assert report["evaluations"] >= 6 and report["seconds"] > 0
    for when in ("initial", "final"):
        assert set(report["losses"][when]) == {"total", "content", "style", "tv"}
    assert report["losses"]["final"]["total"] < report["losses"]["initial"]["total"]
    assert report["term_weights"]["style"] == report["settings"]["style_weight"] * report["settings"]["style_strength"]
    # --optimizer auto (the default) resolved for this CPU, with its reason
    assert report["settings"]["optimizer"] == "auto"
    assert report["compute"]["optimizer"] == AUTO_CPU_OPTIMIZER
    assert report["compute"]["optimizer_reason"].startswith("auto: CPU")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_save_every_writes_snapshots_named_by_evaluation(content_path, style_path, tmp_path, capsys):
    output = tmp_path / "run.jpg"
    status = run_main(content_path, style_path, output, *FAST, "--weights", "none", "--save-every", "2")
    assert status == 0, capsys.readouterr().err
    assert (tmp_path / "run_0002.jpg").exists() and (tmp_path / "run_0004.jpg").exists()
    assert Image.open(output).format == "JPEG"


def _bomb(path: Path) -> Path:
    # A 1-bit PNG far over Pillow's pixel limit stays tiny on disk.
    Image.new("1", (16000, 16000)).save(path)
    return path


def _truncated(path: Path) -> Path:
    Image.fromarray(make_picture(200, 200)).save(path.with_suffix(".jpg"))
    data = path.with_suffix(".jpg").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _thin(path: Path) -> Path:
    Image.fromarray(make_picture(400, 20)).save(path)
    return path


BAD_CONTENT = {
    "missing": (lambda p: p / "nope.png", "does not exist"),
    "folder": (lambda p: p, "is a folder"),
    "empty": (lambda p: _write(p / "empty.png", b""), "empty file"),
    "not-image": (lambda p: _write(p / "text.png", b"hello"), "not an image"),
    "truncated": (lambda p: _truncated(p / "cut.png"), "truncated"),
    "bomb": (lambda p: _bomb(p / "bomb.png"), "too large"),
    "too-small": (lambda p: _thin(p / "thin.png"), "at least 32 px"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONTENT))
def test_bad_content_image(case, style_path, tmp_path):
    make, fragment = BAD_CONTENT[case]
    folder = tmp_path / "inputs"
    folder.mkdir()
    content = make(folder)
    output = tmp_path / "out.png"
    assert_one_line_error(run_cli(content, style_path, output, "--size", "64"), fragment, output)


def test_bad_style_image(content_path, tmp_path):
    output = tmp_path / "out.png"
    (tmp_path / "style.png").write_text("not an image")
    assert_one_line_error(run_cli(content_path, tmp_path / "style.png", output), "style image", output)


@pytest.mark.parametrize(
    "options, fragment",
    [
        (["--content-weight", "-1"], "content-weight"),
        (["--style-weight", "nan"], "style-weight"),
        (["--tv-weight", "inf"], "tv-weight"),
        (["--size", "0"], "--size"),
        (["--size", "-3"], "--size"),
        (["--iterations", "0"], "--iterations"),
        (["--iterations", "-2"], "--iterations"),
        (["--style-layers", "conv9_1"], "unknown layer"),
        (["--network", "vgg16", "--content-layers", "block5_conv4"], "block5_conv3"),
        (["--preset", "picasso"], "unknown preset"),
        (["--size", "ten"], "invalid int"),
        (["--weights", "/no/such/weights.h5"], "weights file"),
        (["--tile-size", "32"], "--tile-size must be a whole number of pixels >= 64"),
        (["--tile-size", "big"], "--tile-size must be auto, off or a number"),
        (["--size", "64", "--tile-size", "128"], "--tile-size 128 is larger than the"),
        (["--tile-size", "256", "--mode", "concat"], "--tile-size needs --mode cached"),
        (["--style-strength", "0"], "--style-strength must be a finite number > 0"),
        (["--style-strength", "-1"], "--style-strength must be a finite number > 0"),
        (["--style-strength", "nan"], "--style-strength must be a finite number > 0"),
        (["--style-weight", "1e38", "--style-strength", "10"], "--style-weight 1e+38 x --style-strength 10 is beyond"),
    ],
)
def test_bad_options(options, fragment, content_path, style_path, tmp_path):
    output = tmp_path / "out.png"
    assert_one_line_error(run_cli(content_path, style_path, output, *options), fragment, output)


def test_bad_outputs(content_path, style_path, tmp_path):
    assert_one_line_error(run_cli(content_path, style_path, tmp_path / "out.bmpx"), "extension")
    assert_one_line_error(run_cli(content_path, style_path, tmp_path / "missing" / "out.png"), "does not exist")
    assert_one_line_error(run_cli(content_path, style_path), "required")


def test_unwritable_folder_is_refused_before_the_run(content_path, style_path, tmp_path, monkeypatch, capsys):
    # Tests run as root in CI, where chmod cannot make a folder unwritable: simulate what os.access reports.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    code = cli.main([str(content_path), str(style_path), str(tmp_path / "out.png")])
    assert code == 2 and "not writable" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_existing_output_needs_force(content_path, style_path, tmp_path, capsys):
    output = tmp_path / "out.png"
    output.write_bytes(b"precious")
    assert_one_line_error(run_cli(content_path, style_path, output, *FAST, "--weights", "none"), "--force")
    assert output.read_bytes() == b"precious"
    status = run_main(content_path, style_path, output, *FAST, "--weights", "none", "--force")
    assert status == 0, capsys.readouterr().err
    assert Image.open(output).size == (48, 38)


SIGNALS = [signal.SIGINT, signal.SIGTERM]
# Two shallow layers: the first evaluation comes seconds sooner (with this budget XLA compiles the step, and a
# shallow step compiles fast); what a signal does does not depend on the layers.
SHALLOW = ["--style-layers", "conv1_1", "--content-layers", "conv1_2"]


@pytest.fixture(scope="module")
def signalled_runs(content_path, style_path, tmp_path_factory):
    """One process per signal, both started at once (their start-ups overlap), each sent its signal once its first
    snapshot is written: {signum: (snapshot seen, exit status, stderr, OUTPUT)}."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    started = {}
    for signum in SIGNALS:
        output = tmp_path_factory.mktemp(signum.name) / "out.png"
        started[signum] = output, subprocess.Popen(
            [sys.executable, "-m", "keras_style", str(content_path), str(style_path), str(output), "--weights",
             "none", "--size", "48", "--iterations", "100000", "--save-every", "1", "--quiet", *SHALLOW],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
        )
    seen, waiting = {}, dict(started)
    deadline = time.monotonic() + 120
    try:
        while waiting and time.monotonic() < deadline:  # each is signalled as soon as its first snapshot is written
            for signum, (output, process) in list(waiting.items()):
                if output.with_name("out_0001.png").exists():
                    process.send_signal(signum)
                    seen[signum] = True
                    del waiting[signum]
                elif process.poll() is not None:  # it ended before its first snapshot
                    del waiting[signum]
            time.sleep(0.05)
        runs = {}
        for signum, (output, process) in started.items():
            if signum in waiting:
                process.kill()
            _, stderr = process.communicate(timeout=60)
            runs[signum] = seen.get(signum, False), process.returncode, stderr, output
    finally:
        for _, process in started.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    return runs


@pytest.mark.processes  # signals to a running command's process
@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_signal_saves_the_best_image_and_exits_130(signum, signalled_runs):
    seen, returncode, stderr, output = signalled_runs[signum]
    assert seen, stderr or "no evaluation"
    assert returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    report = json.loads(output.with_suffix(".json").read_text())
    assert report["interrupted"] is True and 1 <= report["evaluations"] < 100000
    assert Image.open(output).size == (48, 38)


def test_same_seed_gives_byte_identical_output(real_weights, content_path, style_path, tmp_path, capsys):
    """A fresh process and this one (its network, compiled steps and random state already used by other tests) write
    the same bytes with one seed; another seed (in this process) another image."""
    outputs = [tmp_path / "first.png", tmp_path / "second.png"]
    options = dict(size=48, iterations=8, init="noise", network="vgg16")
    arguments = [*(f"--{key}={value}" for key, value in options.items()), "--seed", "3", "--quiet"]
    result = run_cli(content_path, style_path, outputs[0], *arguments)
    assert result.returncode == 0, result.stderr
    assert run_main(content_path, style_path, outputs[1], *arguments) == 0, capsys.readouterr().err
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    other = keras_style.stylize(content_path, style_path, seed=4, **options)
    assert not np.array_equal(np.asarray(Image.open(outputs[0])), other)


def test_style_strength_is_the_style_weight_times_it(content_path, style_path, tmp_path, capsys):
    """--style-strength 2 runs (and records in the sidecar's term_weights) the preset's style weight doubled: the
    same image as --style-weight at twice the preset's; strength 1 runs the preset's own weight."""
    preset_weight = Settings.from_options(preset="gatys").style_weight
    runs = {"strength 2": ["--style-strength", "2"], "weight x 2": ["--style-weight", repr(2 * preset_weight)],
            "strength 1": ["--style-strength", "1"]}
    reports, images = {}, {}
    for name, options in runs.items():
        output = tmp_path / f"{name.replace(' ', '_')}.png"
        status = run_main(content_path, style_path, output, "--preset", "gatys", "--size", "48", "--iterations", "3",
                          "--weights", "none", "--seed", "0", "--quiet", *options)
        assert status == 0, capsys.readouterr().err
        reports[name] = json.loads(output.with_suffix(".json").read_text())
        images[name] = np.asarray(Image.open(output))
    assert reports["strength 2"]["term_weights"]["style"] == 2 * preset_weight
    assert reports["strength 2"]["term_weights"] == reports["weight x 2"]["term_weights"]
    assert reports["strength 1"]["term_weights"]["style"] == preset_weight
    # the sidecar's settings keep what was asked: the preset's weight and the strength
    assert reports["strength 2"]["settings"]["style_weight"] == preset_weight
    assert reports["strength 2"]["settings"]["style_strength"] == 2.0
    # the strength reaches the loss itself: the same start (the content: no content loss, tv weight 0) has the same
    # unweighted style loss and twice the weighted total; the image is the doubled weight's
    initial = {name: report["losses"]["initial"] for name, report in reports.items()}
    assert initial["strength 2"]["style"] == initial["strength 1"]["style"] and initial["strength 1"]["content"] == 0
    assert initial["strength 2"]["total"] == pytest.approx(2 * initial["strength 1"]["total"], rel=1e-6)
    assert np.array_equal(images["strength 2"], images["weight x 2"])
    assert not np.array_equal(images["strength 2"], images["strength 1"])


def test_verbose_prints_the_absolute_style_weight(content_path, style_path, tmp_path, capsys):
    status = run_main(content_path, style_path, tmp_path / "out.png", "--preset", "gatys", "--size", "48",
                      "--iterations", "2", "--weights", "none", "--quiet", "--verbose", "--style-strength", "3")
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert f"style {3 * Settings.from_options(preset='gatys').style_weight:.4g}" in printed.out


def test_entry_points_behave_alike(content_path, tmp_path):
    missing = tmp_path / "missing.png"
    commands = [
        [sys.executable, "-m", "keras_style"],
        [sys.executable, str(ROOT / "scripts" / "transfer.py")],
    ]
    console = shutil.which("keras-style", path=str(Path(sys.executable).parent))
    assert console, "the keras-style console script is installed beside the interpreter"
    commands.append([console])
    helps, errors = [], []
    for command in commands:
        helps.append(subprocess.run(command + ["--help"], capture_output=True, text=True).stdout)
        result = subprocess.run(command + [str(missing), str(content_path), str(tmp_path / "o.png")],
                                capture_output=True, text=True)
        errors.append((result.returncode, result.stderr))
    assert helps[0] == helps[1] == helps[2] and "usage: keras-style" in helps[0]
    assert errors[0] == errors[1] == errors[2] and errors[0][0] == 2


def test_help_explains_every_option():
    parser = cli.build_parser()
    for action in parser._actions:
        assert action.help, f"{action.option_strings or action.dest} has no help text"
    text = parser.format_help()
    for option in ("--network", "--weights", "--size", "--iterations", "--content-layers", "--style-layers",
                   "--style-layer-weights", "--content-weight", "--style-weight", "--tv-weight", "--normalization",
                   "--pooling", "--init", "--seed", "--optimizer", "--mode", "--style-scale", "--preset",
                   "--save-every", "--force", "--quiet", "alpha", "KERAS_STYLE_WEIGHTS_DIR"):
        assert option in text, option


def test_list_presets(capsys):
    assert cli.main(["--list-presets"]) == 0
    printed = capsys.readouterr().out
    for name in PRESETS:
        assert name in printed


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_output_formats_written_atomically(suffix, tmp_path):
    path = tmp_path / f"picture{suffix}"
    save_image(make_picture(40, 32), path)
    reopened = Image.open(path)
    assert reopened.format == FORMATS[suffix] and reopened.size == (40, 32)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
