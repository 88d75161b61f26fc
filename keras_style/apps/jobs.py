"""The jobs of a batch run (`keras-style batch`): which content and style each job pairs, with which settings, and
where it writes; read from CONTENT x --styles or from a manifest, and checked against what an earlier run left.

Nothing here imports TensorFlow or Ray: a dry run, a resumed batch with nothing left to do and every usage error
cost no more than reading the inputs.
"""
from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from keras_style.apps.options import add_setting
from keras_style.config.choices import INITS
from keras_style.config.settings import Settings, declared_settings, flag
from keras_style.errors import UserError, first_line
from keras_style.files.folders import IMAGE_SUFFIXES, expand, natural_key  # noqa: F401 (the batch's names)
from keras_style.files.outputs import FORMATS, sidecar_path
from keras_style.files.video import VIDEO_SUFFIXES

# A CONTENT with one of these suffixes is a clip: its job stylizes every frame on one worker (run/video.py) and
# writes a video of the same format. A .gif stays an image (its first frame), as it always was for the batch.
CLIP_SUFFIXES = tuple(suffix for suffix in VIDEO_SUFFIXES if suffix not in IMAGE_SUFFIXES)
CONTENT_SUFFIXES = IMAGE_SUFFIXES + CLIP_SUFFIXES
# Manifest columns that are not settings.
MANIFEST_COLUMNS = ("content", "style", "output")
# Settings whose values name files: a worker gets their bytes, and a manifest's relative paths start at its folder.
FILE_SETTINGS = ("init", "content_mask", "style_masks")


@dataclass(frozen=True)
class Job:
    """One stylization of the batch: content x style with its settings, written to `output`."""

    index: int  # position in the batch, 0-based: the report's order
    content: str
    style: str
    output: Path
    settings: Settings
    overrides: dict[str, Any] = field(default_factory=dict)  # a manifest row's own settings, for the report
    tag: str = ""  # short hash of the settings that differ from the defaults ("" when none do)
    previous: int | None = None  # --sequence: the job of the previous frame, whose result is this one's start
    blend: float | None = None  # --sequence: the previous result's share in the start image
    named: bool = False  # the output's name is the manifest's, never changed

    @property
    def pair(self) -> str:
        return f"{self.content} x {self.style}"

    @property
    def is_clip(self) -> bool:
        """A video CONTENT: the job stylizes its frames in order and writes a video."""
        return is_clip(self.content)


def is_clip(path: str | Path) -> bool:
    return Path(path).suffix.lower() in CLIP_SUFFIXES


def output_suffix(content: str | Path, image_suffix: str) -> str:
    """A clip's output keeps its format (a video out of a video); an image's takes --format (`image_suffix`)."""
    return Path(content).suffix.lower() if is_clip(content) else image_suffix


def _json_values(data: Any) -> Any:
    """Settings values as their JSON form (tuples become lists), as the sidecar records them."""
    return json.loads(json.dumps(data, default=str))


@functools.lru_cache(maxsize=1)
def _default_settings() -> dict[str, Any]:
    return _json_values(Settings.from_options().as_dict())


def settings_tag(settings: Settings, extra: dict[str, Any] | None = None) -> str:
    """8 hex digits naming the settings that differ from the defaults (and `extra`, e.g. the sequence blend); ""
    when none do. Two jobs with the same stems and different settings get different output names."""
    defaults = _default_settings()
    changed = {name: value for name, value in _json_values(settings.as_dict()).items() if defaults.get(name) != value}
    changed.update(extra or {})
    if not changed:
        return ""
    return hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:8]


# The batch's own files in --out: no job may be named like them.
REPORT_NAME = "batch.jsonl"
SHEET_NAME = "contact_sheet.jpg"
RESERVED_NAMES = (REPORT_NAME, SHEET_NAME)
# Most file systems refuse a name longer than this many bytes (ENAMETOOLONG).
MAX_NAME_BYTES = 255


def output_name(content: str, style: str, tag: str, suffix: str, qualified: bool = False) -> str:
    """photo.jpg x starry.jpg -> photo__starry.png, or photo__starry__1a2b3c4d.png with non-default settings;
    `qualified` keeps the inputs' extensions (photo_jpg__starry_jpg.png) and adds a hash of their full paths, for
    jobs whose plain names collide (unique_outputs). A name over MAX_NAME_BYTES keeps its beginning and ends with a
    hash of the whole name, so it stays unique."""
    parts = [Path(content).stem, Path(style).stem]
    if qualified:
        parts = [Path(content).name.replace(".", "_"), Path(style).name.replace(".", "_"),
                 _digest(str(Path(content).absolute()), str(Path(style).absolute()))[:6]]
    stem = "__".join(parts + ([tag] if tag else []))
    # os.fsencode: a name read from the file system may hold bytes that are not UTF-8 (surrogate escapes)
    if len(os.fsencode(stem + suffix)) <= MAX_NAME_BYTES:
        return stem + suffix
    digest = _digest(stem)[:12]
    room = MAX_NAME_BYTES - len(os.fsencode(suffix)) - len(digest) - 2
    return os.fsdecode(os.fsencode(stem)[:room].decode("utf-8", "ignore").encode()) + "__" + digest + suffix


def _digest(*texts: str) -> str:
    return hashlib.sha256("\0".join(texts).encode("utf-8", "surrogateescape")).hexdigest()


def pair_jobs(contents: Sequence[Path], styles: Sequence[Path], settings: Settings, out: Path, suffix: str,
              sequence_blend: float | None = None) -> list[Job]:
    """Every content x style pair, content by content (the report and the contact sheet read row by row). With
    `sequence_blend` the contents are the frames of one video per style, in order: each frame after the first
    starts from the previous frame's result (Job.previous)."""
    tag = settings_tag(settings, {"sequence_blend": sequence_blend} if sequence_blend is not None else None)

    def job(index: int, content: Path, style: Path, previous: int | None = None) -> Job:
        output = out / output_name(str(content), str(style), tag, output_suffix(content, suffix))
        return Job(index, str(content), str(style), output, settings, tag=tag, previous=previous,
                   blend=sequence_blend)

    if sequence_blend is None:
        pairs = [(content, style) for content in contents for style in styles]
        return unique_outputs([job(index, content, style) for index, (content, style) in enumerate(pairs)])
    clips = [str(content) for content in contents if is_clip(content)]
    if clips:
        raise UserError(f"--sequence takes frames as CONTENT, not a video ({clips[0]!r}): give videos without "
                        "--sequence (each is stylized with optical flow)")
    jobs: list[Job] = []
    for style in styles:  # one video per style, frame after frame
        for frame, content in enumerate(contents):
            jobs.append(job(len(jobs), content, style, previous=len(jobs) - 1 if frame else None))
    return unique_outputs(jobs)


def unique_outputs(jobs: list[Job]) -> list[Job]:
    """Jobs whose plain output names collide (x.jpg beside x.png, a/x.jpg beside b/x.jpg, a__b + c against a + b__c)
    get qualified names (output_name); names a manifest gives must differ by themselves. A name that still
    collides (a manifest listing one pair twice) is a usage error."""
    crowd = Counter(_name_key(sidecar_path(job.output)) for job in jobs)
    renamed = [job if job.named or crowd[_name_key(sidecar_path(job.output))] == 1 else
               replace(job, output=job.output.with_name(output_name(job.content, job.style, job.tag,
                                                                    job.output.suffix, True)))
               for job in jobs]
    return check_outputs(renamed)


def _name_key(path: Path) -> str:
    """Names that would be one file on a case-insensitive file system (macOS, Windows) collide too."""
    return str(path).casefold()


def check_outputs(jobs: list[Job]) -> list[Job]:
    """No two jobs may write the same file, nor the same sidecar (x.png and x.jpg share x.json)."""
    seen: dict[str, Job] = {}
    for job in jobs:
        key = _name_key(sidecar_path(job.output))
        if key in seen:
            raise UserError(f"jobs {seen[key].pair} and {job.pair} would both write {str(job.output)!r} (or its "
                            "sidecar); list each pair once, or give each row its own output")
        seen[key] = job
    return jobs


class _RowParser(argparse.ArgumentParser):
    """A manifest row's settings, parsed as the command line's options are; errors become UserErrors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(message)


@functools.lru_cache(maxsize=1)
def _settings_parser() -> argparse.ArgumentParser:
    parser = _RowParser(add_help=False)
    group = parser.add_argument_group("settings")
    for declared in declared_settings():
        add_setting(group, declared)
    return parser


# A manifest column may name a setting as its field (style_weight) or its flag without dashes (style-weight).
@functools.lru_cache(maxsize=1)
def _setting_fields() -> dict[str, Any]:
    named = {}
    for declared in declared_settings():
        named[declared.name] = declared
        named[flag(declared).lstrip("-")] = declared
    return named


def row_options(row: dict[str, Any]) -> dict[str, Any]:
    """A manifest row's setting columns as Settings keyword arguments; empty cells are not given. Raises UserError
    for an unknown column or a value the command line would refuse."""
    named = _setting_fields()
    unknown = sorted(key for key in row if key not in named)
    if unknown:
        raise UserError(f"unknown column(s) {', '.join(unknown)}; columns are {', '.join(MANIFEST_COLUMNS)} and the "
                        "settings' names (size, style_weight, ...)")
    argv: list[str] = []
    for key, value in row.items():
        if value is None or value == "":
            continue
        declared = named[key]
        option = declared.metadata["option"]
        if option.boolean:
            truth = value if isinstance(value, bool) else str(value).strip().lower()
            if truth not in (True, False, "true", "false", "1", "0", "yes", "no"):
                raise UserError(f"{key} must be true or false, got {value!r}")
            argv.append(flag(declared) if truth in (True, "true", "1", "yes") else "--no-" + flag(declared)[2:])
        elif option.several:
            argv += [flag(declared), *(map(str, value) if isinstance(value, list) else str(value).split())]
        else:
            argv += [flag(declared), str(value)]
    parsed = _settings_parser().parse_args(argv)
    return {declared.name: getattr(parsed, declared.name) for declared in declared_settings()
            if getattr(parsed, declared.name) is not None}


def read_manifest(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) for each row of a .csv (with a header) or .jsonl manifest."""
    if not path.is_file():
        raise UserError(f"manifest {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"manifest {str(path)!r} cannot be read ({first_line(error)})") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        rows = [(reader.line_num, {key.strip(): (value or "").strip() for key, value in row.items() if key})
                for row in reader]
    elif suffix in (".jsonl", ".ndjson"):
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise UserError(f"{path}:{number}: not a JSON object ({first_line(error)})") from None
            if not isinstance(row, dict):
                raise UserError(f"{path}:{number}: not a JSON object")
            rows.append((number, row))
    else:
        raise UserError(f"manifest {str(path)!r} must be a .csv or a .jsonl file")
    if not rows:
        raise UserError(f"manifest {str(path)!r} lists no jobs")
    return rows


def _beside(folder: Path, value: str) -> str:
    """A manifest's relative path, taken from the manifest's folder."""
    return value if Path(value).is_absolute() else str(folder / value)


def manifest_jobs(path: Path, base: dict[str, Any], out: Path, suffix: str) -> list[Job]:
    """The manifest's jobs: each row's content and style (paths relative to the manifest's folder), an optional
    output file name, and settings over the command line's (`base`). Problems name the file and line."""
    jobs: list[Job] = []
    folder = path.parent
    for number, row in read_manifest(path):
        try:
            missing = [column for column in ("content", "style") if not row.get(column)]
            if missing:
                raise UserError(f"no {' or '.join(missing)}")
            content, style = _beside(folder, str(row["content"])), _beside(folder, str(row["style"]))
            overrides = row_options({key: value for key, value in row.items() if key not in MANIFEST_COLUMNS})
            for name in FILE_SETTINGS:  # paths in the manifest start at its folder, as content and style do
                value = overrides.get(name)
                if name == "init" and (value is None or value in INITS):
                    continue
                if isinstance(value, str):
                    overrides[name] = _beside(folder, value)
                elif value is not None:
                    overrides[name] = [_beside(folder, str(each)) for each in value]
            settings = Settings.from_options(**{**base, **overrides})
            tag = settings_tag(settings)
            kinds = CLIP_SUFFIXES if is_clip(content) else tuple(FORMATS)
            name = str(row.get("output") or "") or output_name(content, style, tag, output_suffix(content, suffix))
            if Path(name).name != name or Path(name).suffix.lower() not in kinds:
                raise UserError(f"output {name!r} must be a file name in --out ending in one of "
                                f"{', '.join(sorted(kinds))}")
            if name.lower() in RESERVED_NAMES:
                raise UserError(f"output {name!r} is the batch's own {name}: choose another name")
            if len(os.fsencode(name)) > MAX_NAME_BYTES:
                raise UserError(f"output {name[:40]!r}... is longer than {MAX_NAME_BYTES} bytes")
        except UserError as error:
            raise UserError(f"{path}:{number}: {error}") from None
        jobs.append(Job(len(jobs), content, style, out / name, settings, overrides, tag, named=bool(row.get("output"))))
    return unique_outputs(jobs)


def read_input(path: str, what: str) -> bytes:
    """A job's input file as bytes, for the worker; the loader's one-line messages for a missing or unreadable one."""
    file = Path(path)
    if not file.exists():
        raise UserError(f"{what} {path!r} does not exist")
    if file.is_dir():
        raise UserError(f"{what} {path!r} is a folder, not an image file")
    try:
        return file.read_bytes()
    except OSError as error:
        raise UserError(f"{what} {path!r} cannot be read: {error.strerror or first_line(error)}") from None


def fingerprint(path: str) -> str | None:
    """sha256 of a file's bytes (None when it cannot be read: the job then fails with the loader's message)."""
    try:
        status = Path(path).stat()
    except OSError:
        return None
    return _sha256(path, status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=4096)
def _sha256(path: str, mtime_ns: int, size: int) -> str | None:
    """Each file is read once per version (the planning, the dry run and the requests all ask)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def input_files(settings: Settings) -> dict[str, list[str]]:
    """The files a job's settings make it read besides its content and style: an --init image, the masks."""
    files = {}
    for name in FILE_SETTINGS:
        value = getattr(settings, name)
        paths = [value] if isinstance(value, str) else list(value or ())
        paths = [path for path in paths if not (name == "init" and path in INITS)]
        if paths:
            files[name] = paths
    return files


def job_inputs(job: Job) -> dict[str, Any]:
    """What the sidecar's batch section records about a job's inputs, and what resuming compares: the bytes' hashes
    of every file the job reads (the paths may move; an edited file with the same name must run again)."""
    inputs: dict[str, Any] = {"content_sha256": fingerprint(job.content), "style_sha256": fingerprint(job.style)}
    for name, paths in input_files(job.settings).items():
        inputs[f"{name}_sha256"] = [fingerprint(path) for path in paths]
    return inputs


def settings_record(settings: Settings) -> dict[str, Any]:
    """The settings as the sidecar records them (JSON: tuples are lists)."""
    return _json_values(settings.as_dict())


def sequence_checked(jobs: Sequence[Job], done: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """`done` without the --sequence frames that must run again because the frame they started from will run again,
    or is not the output they started from (edited, rerun, or failed then: a cold start), in frame order."""
    kept = dict(done)
    by_index = {job.index: job for job in jobs}
    for job in sorted(jobs, key=lambda job: job.index):
        if job.previous is None or job.index not in kept:
            continue
        sequence = kept[job.index].get("batch", {}).get("sequence") or {}
        if job.previous not in kept or sequence.get("start_sha256") != fingerprint(str(by_index[job.previous].output)):
            del kept[job.index]
    return kept


def read_sidecar(output: Path) -> dict[str, Any] | None:
    """OUTPUT's sidecar as a dict, or None where there is none or it does not parse as one."""
    try:
        record = json.loads(sidecar_path(output).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def owner(job: Job) -> str | None:
    """Who else holds the job's output, in a few words; None when the job may write it: no sidecar is there (a file
    without one is replaced, as a half-written pair would be), or the sidecar is this job's own (the same content
    and style, by path or by bytes: an edited input or a moved folder is still the same job). Another batch's pair
    with the same stems, a single-image run's output, or the other format's image sharing the sidecar (x.png and
    x.jpg share x.json) are not this job's."""
    record = read_sidecar(job.output)
    if record is None:
        return None
    recorded = Path(str(record.get("output") or job.output)).name
    if recorded.casefold() != job.output.name.casefold():
        return f"{recorded}, whose sidecar is {sidecar_path(job.output).name}"
    batch = record.get("batch")
    if not isinstance(batch, dict):
        return "a single-image run"
    inputs = batch.get("inputs") or {}
    same_paths = all(_same_path(batch.get(what), given) for what, given in (("content", job.content),
                                                                               ("style", job.style)))
    now = {"content_sha256": fingerprint(job.content), "style_sha256": fingerprint(job.style)}
    same_bytes = None not in now.values() and all(inputs.get(key) == value for key, value in now.items())
    if same_paths or same_bytes:
        return None
    return f"the job {batch.get('content')} x {batch.get('style')}"


def _same_path(recorded: Any, given: str) -> bool:
    return isinstance(recorded, str) and Path(recorded).absolute() == Path(given).absolute()


def finished(job: Job, auto_precision: str | None = None) -> dict[str, Any] | None:
    """The sidecar of an earlier run of this very job, or None if it must run: the output and its sidecar exist, the
    sidecar parses, records an uninterrupted run with the same settings, inputs and sequence blend, and the image
    decodes. `auto_precision`: what --precision auto resolves to where the jobs will run now (None: unknown, as on a
    cluster); an output computed in another precision runs again, so that a resumed batch does not mix them."""
    if not job.output.is_file():
        return None
    record = read_sidecar(job.output)
    batch = record.get("batch") if record is not None else None
    if not isinstance(batch, dict) or record.get("interrupted") is not False:
        return None
    if record.get("settings") != settings_record(job.settings) or batch.get("inputs") != job_inputs(job):
        return None
    if job.blend is not None and (batch.get("sequence") or {}).get("blend") != job.blend:
        return None
    if (auto_precision is not None and job.settings.precision == "auto"
            and (record.get("compute") or {}).get("precision") != auto_precision):
        return None
    try:
        if job.is_clip:
            from keras_style.files.video import open_clip

            if sum(1 for _ in open_clip(job.output).iter_frames()) != len(record.get("frames") or ()):
                return None  # every frame decodes, and they are all there
        else:
            with Image.open(job.output) as image:
                image.load()  # decodes every pixel: verify() passes a truncated JPEG or TIFF
    except Exception:  # Pillow and PyAV raise many kinds for a damaged file; any of them means: run again
        return None
    return record
