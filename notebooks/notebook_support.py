"""Helpers shared by the notebooks: find files from any working directory, show pictures, plot loss curves.

The notebooks import this file from their own folder; it needs matplotlib and Pillow (the `notebooks` extra).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

NOTEBOOKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOKS_DIR.parent
TERMS = ("total", "content", "style", "tv")
# Modest resolution keeps every committed notebook well under 1.5 MB while the pictures stay readable.
FIGURE_DPI = 72

PathLike = str | Path


def resolve_input(path: PathLike) -> Path:
    """An existing file from `path`: absolute, or relative to the working directory, notebooks/ or the repo root.

    Notebooks run from notebooks/ (Jupyter), from the repo root (papermill without cwd) or anywhere else, so a
    path like 'examples/content.jpg' or '../examples/content.jpg' must work from all of them.
    """
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    for base in (Path.cwd(), NOTEBOOKS_DIR, REPO_ROOT):
        if (base / candidate).exists():
            return (base / candidate).resolve()
    raise FileNotFoundError(f"{path} not found in {Path.cwd()}, {NOTEBOOKS_DIR} or {REPO_ROOT}")


def input_pair(content: PathLike, style: PathLike) -> tuple[Path, Path]:
    """The content and style files (resolve_input), printed relative to the repo root where they lie inside it."""
    paths = resolve_input(content), resolve_input(style)
    for label, path in zip(("content:", "style:  "), paths):
        print(label, path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)
    return paths


def output_folder(path: PathLike) -> Path:
    """A folder for generated files; relative paths are taken from the repo root so outputs/ stays ignored."""
    folder = Path(path).expanduser()
    folder = folder if folder.is_absolute() else REPO_ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def load_rgb(source: PathLike | np.ndarray) -> np.ndarray:
    """A uint8 RGB array from a path or an array (EXIF orientation honoured, as keras_style loads images)."""
    if isinstance(source, np.ndarray):
        return source
    from keras_style.files.images import load_image, to_array

    return np.asarray(to_array(load_image(str(source), "image")), dtype=np.uint8)


def show_side_by_side(pictures: Mapping[str, PathLike | np.ndarray], height_inches: float = 3.2):
    """One row of titled pictures (content, style, result) without axes; returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    arrays = {title: load_rgb(source) for title, source in pictures.items()}
    widths = [array.shape[1] / array.shape[0] for array in arrays.values()]
    figure, axes = plt.subplots(
        1, len(arrays), figsize=(height_inches * sum(widths) + 0.4, height_inches + 0.4), dpi=FIGURE_DPI,
        gridspec_kw={"width_ratios": widths},
    )
    for axis, (title, array) in zip(np.atleast_1d(axes), arrays.items()):
        axis.imshow(array)
        axis.set_title(f"{title}\n{array.shape[1]}x{array.shape[0]}", fontsize=10)
        axis.axis("off")
    figure.tight_layout()
    return figure


def figure_as_jpeg(figure, quality: int = 85) -> bytes:
    """The figure as JPEG bytes: photographs and paintings compress ~5x better than as PNG in the notebook file."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    # bbox_inches="tight" keeps the two-line titles that tight_layout alone clips at the top.
    figure.savefig(buffer, format="jpeg", dpi=FIGURE_DPI, bbox_inches="tight", pil_kwargs={"quality": quality})
    plt.close(figure)
    return buffer.getvalue()


def display_pictures(pictures: Mapping[str, PathLike | np.ndarray]) -> None:
    """Show content, style and result side by side in the notebook, embedded as a JPEG."""
    from IPython.display import Image, display

    display(Image(data=figure_as_jpeg(show_side_by_side(pictures)), format="jpeg"))


def positive_or_nan(values: np.ndarray) -> np.ndarray:
    """Values for a log axis: zero or negative entries (an unweighted term, e.g. tv at weight 0) become gaps."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(values > 0, values, np.nan)


def plot_loss_history(history: np.ndarray, title: str, weights: Mapping[str, float] | None = None):
    """Total, content, style and tv loss against evaluation on a log scale; returns the matplotlib figure.

    `history` is StyleResult.history: one row per evaluation, columns total, content, style, tv. `weights`
    (content/style/tv) are shown in the legend so a reader knows which terms count towards the total.
    """
    import matplotlib.pyplot as plt

    history = np.asarray(history, dtype=np.float64).reshape(-1, len(TERMS))
    evaluations = np.arange(1, len(history) + 1)
    figure, axis = plt.subplots(figsize=(7.5, 3.6), dpi=FIGURE_DPI)
    for column, term in enumerate(TERMS):
        label = term if not weights or term == "total" else f"{term} (weight {weights[term]:g})"
        values = positive_or_nan(history[:, column])
        if np.all(np.isnan(values)):
            label += ": zero throughout"
        axis.plot(evaluations, values, label=label, linewidth=1.6 if term == "total" else 1.1)
    axis.set_yscale("log")
    axis.set_xlabel("evaluation (loss + gradient)")
    axis.set_ylabel("loss (unweighted terms; total is weighted)")
    axis.set_title(title, fontsize=11)
    axis.grid(True, which="major", alpha=0.3)
    axis.legend(fontsize=8, loc="best")
    figure.tight_layout()
    return figure


def plot_run_losses(result, title: str):
    """plot_loss_history of a StyleResult, with its own loss weights in the legend; prints its seconds per
    evaluation under the figure."""
    weights = {term: getattr(result.settings, f"{term}_weight") for term in ("content", "style", "tv")}
    figure = plot_loss_history(result.history, title, weights)
    print(f"seconds per evaluation: {result.seconds_per_evaluation:.3f} "
          f"({result.evaluations} evaluations, {result.seconds:.1f} s)")
    return figure


def run_summary(result) -> str:
    """Lines a reader wants after a run: size, evaluations, time, seconds per evaluation, first and last loss."""
    first, final = result.losses["initial"], result.losses["final"]
    width, height = result.sizes["output"]
    lines = [
        f"output {width}x{height}, {result.evaluations} evaluations in {result.seconds:.1f} s",
        f"seconds per evaluation: {result.seconds_per_evaluation:.3f}",
        "initial losses: " + ", ".join(f"{term} {first[term]:.4g}" for term in TERMS),
        "final losses:   " + ", ".join(f"{term} {final[term]:.4g}" for term in TERMS),
    ]
    return "\n".join(lines)


def settings_table(settings, keys: Sequence[str]) -> str:
    """The chosen settings as 'key: value' lines (layer tuples joined) for printing under a run."""
    values = settings.as_dict()
    rows = []
    for key in keys:
        value = values[key]
        if isinstance(value, tuple):
            value = ", ".join(str(item) for item in value)
        rows.append(f"{key:>18}: {value}")
    return "\n".join(rows)
