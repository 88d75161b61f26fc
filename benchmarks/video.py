"""How much a video flickers: Lai et al.'s warping error (ECCV 2018) of stylized clips, per way of running them.

    python benchmarks/video.py                                   # the demo clip and a moving crop, 128 px
    python benchmarks/video.py --size 256 --frames 48 --json outputs/video.json --plot outputs/video.png

Rows, each on the same frames, styles and settings (keras_style/run/video.py's modes):
  independent  every frame stylized alone, as a single image;
  warm         each later frame starts from the previous result carried along the optical flow (no temporal term);
  temporal W   the same start plus the temporal term at --temporal-weight W (one row per W given).

For each row: the warping error (the mean absolute difference, 0..1, between output t and output t-1 carried to t
along the input frames' flow, over the pixels the consistency check trusts; warped with Lanczos, and bilinearly
beside it: run/motion.py's WARPING_ERROR_KERNEL says why), the judged style and content losses
(keras_style.run.judge's vgg19-paper and vgg16-johnson, each a mean over the frames) and the seconds per frame; then
benchmarks/quality.py's measures (keras_style.run.judge.quality: both networks, the strokes at half size, the
painting's colours, fine noise) of each row against the independent one. The plot shows the warping error per frame
for every row and clip. The machine line names the CPU and its flags: compare rows of one run.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED_IMAGES = ROOT.parent / "shared" / "images"
# vgg19-paper has the default preset's own network and layers: the optimised image sits in a narrow minimum of it,
# which any motion leaves (moving a finished frame by one pixel raises it about 4x). vgg16-johnson is another network,
# the brief's fixed judge, and moves a few percent under the same shift.
JUDGE_NAMES = ("vgg19-paper", "vgg16-johnson")


def machine() -> str:
    from keras_style.apps.workers import local_cores
    from keras_style.engine.backend import read_cpu
    from keras_style.run.limits import cgroup_cpu_limit  # noqa: F401 (the same cores the runs use)

    name, flags = read_cpu()
    found = [flag for flag in ("avx2", "avx512_bf16", "amx_bf16") if flag in flags]
    return f"{name or platform.processor()}, {local_cores()} cores, flags: {' '.join(found) or 'none of avx2/bf16'}"


def demo_clip(frames: int) -> list[np.ndarray]:
    """The project's demo clip (examples/demo_clip.mp4), its first `frames` frames."""
    from keras_style.files.video import open_clip

    clip = open_clip(ROOT / "examples" / "demo_clip.mp4")
    taken = []
    for frame in clip.iter_frames():
        taken.append(frame)
        if len(taken) == frames:
            break
    return taken


def moving_crop(photograph: Path, frames: int, width: int = 320, height: int = 240) -> list[np.ndarray]:
    """A camera moving over a photograph: a window panning right and down and slowly zooming in."""
    from PIL import Image

    picture = Image.open(photograph).convert("RGB")
    scale = max(width * 1.6 / picture.width, height * 1.6 / picture.height)
    picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.Resampling.LANCZOS)
    taken = []
    for index in range(frames):
        zoom = 1.0 - 0.004 * index
        crop_width, crop_height = width * zoom, height * zoom
        left, top = 10 + 3.0 * index, 10 + 1.0 * index
        box = (left, top, left + crop_width, top + crop_height)
        taken.append(np.asarray(picture.resize((width, height), Image.Resampling.BICUBIC, box=box)))
    return taken


def run_row(frames, style, settings, mode: str, folder: Path, stylize: bool = True,
            first: Path | None = None, resume: bool = False) -> dict:
    """Stylize `frames` one way (`mode`) into `folder` and measure them. `first`: an earlier row's folder whose first
    frame this row takes instead of computing it again (every mode runs the first frame the same way), through the
    run's own resume. `resume`: keep the frames an earlier run of this row finished and go on after them."""
    from keras_style.files.images import load_image, to_array
    from keras_style.run.judge import judge, quality
    from keras_style.run.motion import motion, warping_error
    from keras_style.run.video import sized_frame, stylize_frames

    identity = {"row": folder.name}
    if stylize:
        if not (resume and (folder / "clip.json").is_file()):
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob("*"):
                stale.unlink()
            if first is not None:
                record = json.loads((first / "clip.json").read_text())["frames"][0]
                shutil.copyfile(first / record["file"], folder / record["file"])
                (folder / "clip.json").write_text(json.dumps({"identity": identity, "frames": [record]}))
        records = stylize_frames(frames, [style], settings, folder, folder / "clip.json", identity, mode=mode)
    else:  # --rejudge: the frames an earlier run of this row finished
        records = json.loads((folder / "clip.json").read_text())["frames"]
        frames = frames[: len(records)]
    seconds = sum(record["seconds"] for record in records)
    outputs = [to_array(load_image(folder / record["file"])) for record in records]
    inputs = [sized_frame(frame, settings) for frame in frames]
    moves = [motion(inputs[index - 1], inputs[index]) for index in range(1, len(outputs))]
    errors = [warping_error(outputs[index], outputs[index + 1], moved) for index, moved in enumerate(moves)]
    bilinear = [warping_error(outputs[index], outputs[index + 1], moved, "linear") for index, moved in enumerate(moves)]
    row = {
        "mode": mode, "temporal_weight": settings.temporal_weight if mode == "temporal" else None,
        "warping_error": float(np.mean(errors)), "warping_error_per_frame": errors,
        "warping_error_bilinear": float(np.mean(bilinear)),
        "seconds_per_frame": seconds / len(records), "frames": len(records),
        "evaluations": [record["evaluations"] for record in records],
    }
    for name in JUDGE_NAMES:
        judged = [judge(output.astype(np.uint8), frame, style, name=name) for output, frame in zip(outputs, frames)]
        row[name] = {"style": float(np.mean([each["style"] for each in judged])),
                     "content": float(np.mean([each["content"] for each in judged])),
                     "style_per_frame": [each["style"] for each in judged]}
    measured = [quality(output.astype(np.uint8), frame, style) for output, frame in zip(outputs, frames)]
    row["quality"] = {measure: float(np.mean([each[measure] for each in measured])) for measure in measured[0]}
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="+", default=["demo", "crop"], choices=["demo", "crop"],
                        help="demo: examples/demo_clip.mp4 with examples/style.jpg; crop: a camera moving over "
                             "tubingen.jpg with starry_night.jpg (../shared/images)")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip (default: 16)")
    parser.add_argument("--size", type=int, default=128, help="output size in px (default: 128)")
    parser.add_argument("--iterations", type=int, default=100,
                        help="evaluations of the first frame, and of every frame in the independent row")
    parser.add_argument("--frame-iterations", type=int, default=50, help="evaluations of each later frame")
    parser.add_argument("--temporal-weights", type=float, nargs="+", default=None,
                        help="one temporal row per weight (default: the declared --temporal-weight)")
    parser.add_argument("--rows", nargs="+", default=["independent", "warm", "temporal"],
                        choices=["independent", "warm", "temporal"])
    parser.add_argument("--preset", default=None, help="settings preset (default: the default preset)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "video_benchmark",
                        help="folder for the rows' frames")
    parser.add_argument("--rejudge", action="store_true",
                        help="stylize nothing: measure the frames an earlier run left in --out (a stopped run's "
                             "rows count the frames they finished; rows with none are left out)")
    parser.add_argument("--share-first", action=argparse.BooleanOptionalAction, default=True,
                        help="compute the first frame once per clip and give it to every row (default: on; it is the "
                             "same run in every row)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the frames an earlier run with the same settings left in --out and go on after "
                             "them (to lengthen a run: the same command with more --frames)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--plot", type=Path, help="draw the warping error per frame here (PNG)")
    args = parser.parse_args(argv)

    from keras_style.config.settings import Settings

    base = dict(size=args.size, iterations=args.iterations, frame_iterations=args.frame_iterations, seed=0)
    weights = args.temporal_weights or [Settings.from_options(preset=args.preset).temporal_weight]
    clips = {}
    for name in args.clips:
        if name == "demo":
            clips[name] = (demo_clip(args.frames), ROOT / "examples" / "style.jpg")
        else:
            clips[name] = (moving_crop(SHARED_IMAGES / "tubingen.jpg", args.frames), SHARED_IMAGES / "starry_night.jpg")
    report = {"machine": machine(), "command": " ".join(["python benchmarks/video.py", *(argv or sys.argv[1:])]),
              "settings": {**base, "preset": args.preset}, "clips": {}}
    print(report["machine"])
    print("| clip | row | frames | warping error | (bilinear warp) | style (vgg19) | content (vgg19) | style (vgg16) "
          "| content (vgg16) | s / frame |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, (frames, style) in clips.items():
        rows = []
        plan = [(mode, None) for mode in args.rows if mode != "temporal"]
        plan += [("temporal", weight) for weight in weights] if "temporal" in args.rows else []
        first = None  # the folder of the clip's first row: its first frame serves the others
        for mode, weight in plan:
            settings = Settings.from_options(preset=args.preset, **base,
                                             **({"temporal_weight": weight} if weight is not None else {}))
            label = mode if weight is None else f"temporal {weight:g}"
            folder = args.out / name / label.replace(" ", "_")
            if args.rejudge and not (folder / "clip.json").is_file():
                continue
            row = run_row(frames, style, settings, mode, folder, stylize=not args.rejudge,
                          first=first if args.share_first else None, resume=args.resume)
            first = first or folder
            row["row"] = label
            rows.append(row)
            judged = " | ".join(f"{row[judge][term]:.4g}" for judge in JUDGE_NAMES for term in ("style", "content"))
            print(f"| {name} | {label} | {row['frames']} | {row['warping_error']:.4f} | "
                  f"{row['warping_error_bilinear']:.4f} | {judged} | "
                  f"{row['seconds_per_frame']:.1f} |", flush=True)
        report["clips"][name] = rows
    print("\nquality.py's measures (lower is better): each row's mean over its frames / the independent row's")
    measures = list(report["clips"][next(iter(report["clips"]))][0]["quality"]) if report["clips"] else []
    print("| clip | row | " + " | ".join(measures) + " |")
    print("| --- | --- |" + " ---: |" * len(measures))
    for name, rows in report["clips"].items():
        alone = next((row for row in rows if row["mode"] == "independent"), None)
        for row in rows:
            if alone is not None and row is not alone:
                print(f"| {name} | {row['row']} | "
                      + " | ".join(f"{row['quality'][measure] / alone['quality'][measure]:.2f}" for measure in measures)
                      + " |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot(report, args.plot)
    return 0


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = report["clips"]
    figure, axes = plt.subplots(1, len(clips), figsize=(5.5 * len(clips), 3.6), squeeze=False)
    for axis, (name, rows) in zip(axes[0], clips.items()):
        for row in rows:
            errors = row["warping_error_per_frame"]
            axis.plot(range(2, len(errors) + 2), errors, marker="o", markersize=3, label=row["row"])
        axis.set_title(f"{name} clip")
        axis.set_xlabel("frame")
        axis.set_ylabel("warping error (0..1, log scale)")
        axis.set_yscale("log")  # the rows differ by a factor of 20: on a linear axis the steady ones merge
        axis.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()  # one legend under the plots, clear of the lines
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    figure.suptitle(f"Flicker per frame: lower is steadier ({report['machine']})", fontsize=9)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
