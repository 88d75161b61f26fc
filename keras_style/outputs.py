"""What a run leaves behind: the image (written atomically), intermediate snapshots and the JSON sidecar."""
from __future__ import annotations

import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import UserError

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}


def sidecar_path(output: Path) -> Path:
    """out.png -> out.json."""
    return output.with_suffix(".json")


def snapshot_path(output: Path, evaluation: int) -> Path:
    """out.png -> out_0025.png for the image after 25 evaluations."""
    return output.with_name(f"{output.stem}_{evaluation:04d}{output.suffix}")


def check_output(output: Path, force: bool) -> None:
    """Refuse, before any work, an output that cannot or should not be written."""
    if output.suffix.lower() not in FORMATS:
        raise UserError(
            f"output {str(output)!r} has no supported extension; use one of {', '.join(sorted(FORMATS))}"
        )
    if output.is_dir():
        raise UserError(f"output {str(output)!r} is a folder")
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"output folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"output folder {str(folder)!r} is not writable")
    if not force:
        for existing in (output, sidecar_path(output)):
            if existing.exists():
                raise UserError(f"{str(existing)!r} already exists; pass --force to overwrite it")


def _write_atomically(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: readers never see half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def save_image(image: np.ndarray, path: Path) -> None:
    """Save a uint8 RGB array in the format its extension names, atomically."""
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    image_format = FORMATS[path.suffix.lower()]
    options: dict[str, Any] = {"quality": 95} if image_format in ("JPEG", "WEBP") else {}
    _write_atomically(path, lambda stream: picture.save(stream, format=image_format, **options))


def save_json(data: dict[str, Any], path: Path) -> None:
    text = json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n"
    _write_atomically(path, lambda stream: stream.write(text.encode("utf-8")))


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)


def versions() -> dict[str, str | None]:
    """Installed versions of the pieces that decide the numbers."""
    found: dict[str, str | None] = {}
    for package, distributions in (
        ("keras", ("keras",)),
        ("tensorflow", ("tensorflow", "tensorflow-cpu", "tensorflow-macos")),
        ("keras_style", ("keras-style",)),
    ):
        found[package] = None
        for distribution in distributions:
            try:
                found[package] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    if found["keras_style"] is None:
        from . import __version__

        found["keras_style"] = __version__
    return found


def sidecar(result, output: Path) -> dict[str, Any]:
    """The JSON record of a run: every setting, versions, weights, sizes, budget, time and losses."""
    return {
        "output": str(output),
        "interrupted": result.interrupted,
        "settings": result.settings.as_dict(),
        "versions": versions(),
        "weights_file": result.weights_file,
        "sizes": result.sizes,
        "evaluations": result.evaluations,
        "seconds": round(result.seconds, 3),
        "seconds_per_evaluation": round(result.seconds_per_evaluation, 4),
        "losses": result.losses,
        "scales": result.scales,
        "compute": result.compute,
        "startup": result.startup,
    }
