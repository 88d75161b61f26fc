"""What a run leaves behind: the image and its JSON sidecar, written as a pair, and intermediate snapshots.

Every file goes through a temporary file beside it, synced to disk, then renamed into place: a reader, a crash or a
power cut sees the old file or the new one, never part of one. A file that exists is replaced only when the caller
says so (--force), and then keeps its permissions; a new file gets those the umask gives, like any other."""
from __future__ import annotations

import contextlib
import errno
import io
import itertools
import json
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from keras_style.errors import UserError
from keras_style.version import __version__

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}

Writer = Callable[[BinaryIO], object]


def sidecar_path(output: Path) -> Path:
    """out.png -> out.json."""
    return output.with_suffix(".json")


def snapshot_path(output: Path, evaluation: int) -> Path:
    """out.png -> out_0025.png for the image after 25 evaluations."""
    return output.with_name(f"{output.stem}_{evaluation:04d}{output.suffix}")


def existing_snapshots(output: Path) -> list[Path]:
    """Files beside OUTPUT named as its snapshots are (out_0025.png): an earlier run's, which --save-every would
    overwrite."""
    pattern = re.compile(re.escape(output.stem) + r"_\d{4,}" + re.escape(output.suffix))
    folder = output.parent if str(output.parent) else Path(".")
    return sorted(path for path in folder.iterdir() if pattern.fullmatch(path.name))


def check_output(output: Path, force: bool, snapshots: bool = False) -> None:
    """Refuse, before any work, an output that cannot or should not be written: an unknown extension, a format
    this Pillow cannot write, a missing or read-only folder, and without `force` an existing OUTPUT, sidecar or
    (with `snapshots`) snapshot of OUTPUT."""
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
    _check_format(output)
    if not force:
        for existing in [output, sidecar_path(output), *(existing_snapshots(output) if snapshots else [])]:
            if os.path.lexists(existing):
                raise UserError(f"{str(existing)!r} already exists; pass --force to overwrite it")


def _check_format(output: Path) -> None:
    """Encode one pixel as the final save will. Pillow can lack a format's writer (WebP without libwebp) or have it
    registered without its encoder (JPEG without libjpeg); only encoding tells, and after the run is too late."""
    try:
        _image_writer(np.zeros((1, 1, 3), np.uint8), output)(io.BytesIO())
    except (KeyError, OSError, ValueError):
        image_format = FORMATS[output.suffix.lower()]
        raise UserError(f"this Pillow build cannot write {image_format} ({output.suffix} output); "
                        "use another extension, e.g. .png") from None


def _image_writer(image: np.ndarray, path: Path) -> Writer:
    """What writes `image` to a stream in the format the extension of `path` names."""
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    image_format = FORMATS[path.suffix.lower()]
    options: dict[str, Any] = {"quality": 95} if image_format in ("JPEG", "WEBP") else {}
    return lambda stream: picture.save(stream, format=image_format, **options)


def _json_writer(data: dict[str, Any]) -> Writer:
    text = json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n"
    return lambda stream: stream.write(text.encode("utf-8"))


@contextlib.contextmanager
def _temporary(path: Path, write: Writer) -> Iterator[Path]:
    """A temporary file beside `path`, written and synced to disk, removed on leaving unless it was renamed.

    os.open with 0o666 lets the umask decide its permissions, as for any new file (tempfile.mkstemp's are always
    0600, and the rename keeps them). The sync comes before the rename: otherwise a power cut can leave the new
    name on an empty file."""
    while True:
        temporary = path.with_name(f".{path.stem}.{secrets.token_hex(4)}{path.suffix}")
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        yield temporary
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _publish(temporary: Path, path: Path, replace: bool) -> None:
    """Give a written temporary file its name. With `replace`, over whatever is there, keeping that file's
    permissions. Without, never over an existing file, even one that appeared a moment ago: FileExistsError."""
    if replace:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # unlike os.replace, fails if `path` exists, in one step
    except FileExistsError:
        raise
    except OSError:
        # No hard links on this file system (FAT, some network shares): check, then rename; a small window remains.
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
        os.replace(temporary, path)


def save_image(image: np.ndarray, path: Path, replace: bool = False) -> None:
    """Save a uint8 RGB array in the format its extension names, atomically; an existing file only with `replace`
    (FileExistsError otherwise)."""
    with _temporary(path, _image_writer(image, path)) as temporary:
        _publish(temporary, path, replace)


def save_json(data: dict[str, Any], path: Path) -> None:
    """Write a JSON record atomically, replacing what is there (a video's sidecar, rewritten after each frame)."""
    with _temporary(path, _json_writer(data)) as temporary:
        _publish(temporary, path, replace=True)


def names_beside(output: Path) -> Iterator[Path]:
    """out.png, then the names beside it: out-1.png, out-2.png, ..."""
    yield output
    for number in itertools.count(1):
        yield output.with_name(f"{output.stem}-{number}{output.suffix}")


def save_result(image: np.ndarray | bytes, describe: Callable[[Path], dict[str, Any]], output: Path,
                force: bool) -> Path:
    """Write the image (or a file's bytes as they are: an encoded video) and its sidecar (`describe(image_path)`) as a
    pair sharing one stem; return the image's path.

    With `force` the pair replaces what is at OUTPUT. Without it no file is ever replaced: if OUTPUT or its sidecar
    appeared since check_output (another run aimed at OUTPUT, another program), the pair goes beside them under the
    first free name (out-1.png and out-1.json), and the caller says so."""
    for candidate in [output] if force else names_beside(output):
        writer = (lambda stream: stream.write(image)) if isinstance(image, bytes) else _image_writer(image, candidate)
        with (_temporary(candidate, writer) as picture,
              _temporary(sidecar_path(candidate), _json_writer(describe(candidate))) as record):
            try:
                _publish(picture, candidate, force)
            except FileExistsError:
                continue
            try:
                _publish(record, sidecar_path(candidate), force)
            except FileExistsError:
                os.unlink(candidate)  # our image, placed a moment ago: it must not stand beside another's sidecar
                continue
            return candidate
    raise AssertionError("unreachable: names_beside is endless, and replacing never raises FileExistsError")


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
        found["keras_style"] = __version__
    return found


def sidecar(result, output: Path) -> dict[str, Any]:
    """The JSON record of a run: every setting, versions, weights, sizes, budget, time and losses."""
    return {
        "output": str(output),
        "interrupted": result.interrupted,
        "stopped": result.stopped,
        "settings": result.settings.as_dict(),
        "versions": versions(),
        "weights_file": result.weights_file,
        "sizes": result.sizes,
        # what the run spent: at most the budget, less when a scale stalled or stopped early
        "evaluations": result.evaluations,
        "evaluation_budget": result.evaluation_budget,  # the run's plan's: every scale's, with tiles every tile's
        # evaluations whose loss overflowed float32; the image is then the best finite one
        "non_finite_evaluations": result.non_finite_evaluations,
        "seconds": round(result.seconds, 3),
        "seconds_per_evaluation": round(result.seconds_per_evaluation, 4),
        # each term's absolute weight as the run's loss used it (style: --style-weight x --style-strength), at the
        # --balance reference size
        "term_weights": result.term_weights,
        "losses": result.losses,
        "layer_losses": result.layer_losses,
        "scales": result.scales,
        "compute": result.compute,
        "startup": result.startup,
    }
