"""`keras-style batch CONTENT... --styles STYLE... --out DIR [options]`: many stylizations, on Ray when installed.

Every content x style pair (or every row of a --manifest) is one job, written to DIR under a name made of both
stems and a short hash of the settings that differ from the defaults. A job whose output and sidecar already
record the same settings and inputs is skipped, so a batch that was stopped or killed resumes where it was. A bad
image fails its own job only: the batch goes on, DIR/batch.jsonl records every job, and the exit status is 3.

Exit codes: 0 every job done (or already done), 3 some failed, 2 bad usage, 130 interrupted, 1 other failures.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_style.apps.jobs import (
    CONTENT_SUFFIXES,
    REPORT_NAME,
    SHEET_NAME,
    Job,
    expand,
    fingerprint,
    finished,
    is_clip,
    job_inputs,
    manifest_jobs,
    owner,
    pair_jobs,
    read_input,
    sequence_checked,
)
from keras_style.apps.options import (
    BATCH_PROGRAM,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    VERSION,
    OneLineParser,
    add_settings,
    guarded_main,
    settings_options,
)
from keras_style.apps.workers import JOB_TIMEOUT_SECONDS
from keras_style.config.choices import INITS
from keras_style.config.settings import GROUPS, Settings
from keras_style.errors import SetupError, UserError, first_line
from keras_style.files.outputs import FORMATS

if TYPE_CHECKING:  # Ray and TensorFlow load only when jobs run
    from keras_style.apps.workers import JobOutcome, Pool

PROGRAM = BATCH_PROGRAM
EXIT_SOME_FAILED = 3  # the batch's own code; the others are the single-image command's
DEFAULT_SEQUENCE_BLEND = 0.5

DESCRIPTION = """\
Stylize every CONTENT with every STYLE (files or folders of images), or the jobs a --manifest lists, into DIR.

Each job writes DIR/<content>__<style>[__<hash>].png and its JSON sidecar, atomically; <hash> names the settings
that differ from the defaults, so batches with other settings do not overwrite each other; inputs whose names
collide (x.jpg beside x.png) get their extensions and a hash of their paths in the name, and an output that
another job's sidecar holds is never replaced without --force. Run the same command
again to resume: jobs whose output and sidecar record the same settings and inputs are skipped. A job that fails
(a damaged image, say) is recorded and the others go on. DIR/batch.jsonl gets a row per job (status, seconds,
final losses, output) and DIR/contact_sheet.jpg shows the contents (rows) against the styles (columns).

Jobs run on Ray when it is installed (pip install -e ".[batch]"): a local instance by default, or the cluster at
--address. Each worker builds the network once and runs many jobs; inputs travel as bytes, so the workers need no
shared file system, and this process writes the outputs. Without Ray, with --workers 1, or where Ray would buy
nothing (one core, or one job at a time), the jobs run one after another in this process. Every option of the
single-image command applies to every job."""

EPILOG = """\
manifest: a .csv with a header, or .jsonl (one JSON object per line); columns content and style (paths relative
to the manifest's folder), optionally output (a file name in DIR), and any setting by its name as an override for
that row (size, style_weight or style-weight, iterations, preset, ...); an empty cell keeps the command's value.
--sequence: CONTENT are the frames of a video, in natural order (frame2 before frame10). Frame 1 starts as --init
says; each later frame starts from blend x the previous frame's result + (1 - blend) x its own content. No optical
flow warps the previous result and no temporal loss ties the frames, so moving parts leave traces and some
flicker remains; a video file as CONTENT gets both (its frames in order on one worker, as keras-style video).
exit codes: 0 every job done or already done, 3 some jobs failed (listed in DIR/batch.jsonl), 2 bad usage,
130 interrupted (finished jobs are kept), 1 other failures.
examples:
  keras-style batch photos/ --styles paintings/ --out out/ --size 256
  keras-style batch --manifest jobs.csv --out out/ --iterations 300 --address auto
  keras-style batch frames/ --styles starry.jpg --out video/ --sequence --size 384"""


def build_parser() -> argparse.ArgumentParser:
    """The batch options, then every declared setting (keras_style.config.settings) by group, as the single-image
    command has them."""
    parser = OneLineParser(prog=PROGRAM, description=DESCRIPTION, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("contents", nargs="*", metavar="CONTENT",
                        help="content images or video files (a video becomes a stylized video, as keras-style video "
                             "makes it), or folders whose image and video files are all taken (not their subfolders)")
    jobs = parser.add_argument_group("jobs")
    jobs.add_argument("--styles", nargs="+", metavar="STYLE", default=[],
                      help="style images or folders of them; every CONTENT is paired with every STYLE")
    jobs.add_argument("--out", metavar="DIR", help="folder for the outputs, their sidecars, batch.jsonl and the "
                      "contact sheet (created if missing)")
    jobs.add_argument("--manifest", metavar="FILE", type=Path,
                      help="a .csv or .jsonl listing the jobs (content, style, optional output, per-row settings) "
                           "instead of CONTENT x --styles")
    jobs.add_argument("--format", default="png", choices=sorted(suffix[1:] for suffix in FORMATS),
                      help="the outputs' file format (default: png)")
    jobs.add_argument("--dry-run", action="store_true",
                      help="list the jobs and the outputs they would write (or that are done), run nothing")
    jobs.add_argument("--force", action="store_true",
                      help="run every job again, replacing its output, and replace outputs that other jobs' sidecars "
                           "hold (default: such a job fails with one line)")
    jobs.add_argument("--sequence", action="store_true",
                      help="CONTENT are ordered video frames: each frame starts from the previous frame's result "
                           "blended with its own content (no optical flow, no temporal loss)")
    jobs.add_argument("--sequence-blend", type=float, metavar="W", default=DEFAULT_SEQUENCE_BLEND,
                      help="with --sequence, the previous result's share in a frame's start image, 0..1; 1 starts "
                           "from the previous result alone, as cysmith's --init_frame_type prev "
                           f"(default: {DEFAULT_SEQUENCE_BLEND})")
    workers = parser.add_argument_group("workers")
    workers.add_argument("--workers", type=int, metavar="N",
                         help="workers running jobs at once (default: one per GPU on a GPU cluster, else one per "
                              "core, at most the jobs that can run at once); 1 runs them in this process")
    workers.add_argument("--threads-per-worker", type=int, metavar="T",
                         help="threads per worker, for TensorFlow and for numpy's BLAS, set before they load "
                              "(default: the cores divided among the workers; in this process, BLAS keeps its own)")
    workers.add_argument("--address", metavar="ADDRESS",
                         help="the Ray cluster to run on: ray://HOST:10001, HOST:6379 or auto (default: a local "
                              "Ray instance on this machine's cores)")
    workers.add_argument("--job-timeout", type=float, metavar="SECONDS", default=JOB_TIMEOUT_SECONDS,
                         help="with Ray: a job with no result after this long fails and its worker is replaced "
                              f"(a hung worker would hold the batch for good; default: {JOB_TIMEOUT_SECONDS:g})")
    workers.add_argument("--shared-output", action="store_true",
                         help="the workers write the outputs themselves: DIR is the same path on every machine "
                              "(a shared file system); default: this process writes them")
    add_settings({name: parser.add_argument_group(name) for name in GROUPS})
    out = parser.add_argument_group("output")
    out.add_argument("--quiet", action="store_true", help="no progress bar or summary (failures are still printed)")
    out.add_argument("--version", action="version", version=VERSION)
    return parser


def plan(args: argparse.Namespace) -> list[Job]:
    """The batch's jobs from the arguments; UserError for bad usage."""
    if not args.out:
        raise UserError("--out DIR is required")
    # --shared-output: the workers write the paths themselves, from their own working folders
    out = Path(args.out).absolute() if args.shared_output else Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {args.out!r} is not a folder")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if not args.job_timeout > 0:
        raise UserError(f"--job-timeout must be above 0 seconds, got {args.job_timeout:g}")
    if args.threads_per_worker is not None and args.threads_per_worker < 1:
        raise UserError(f"--threads-per-worker must be at least 1, got {args.threads_per_worker}")
    base = settings_options(args)
    if args.sequence and base.get("scales") is None:
        base["scales"] = 1  # the warm start is an image at the output size: one scale, whatever the preset's
    settings = Settings.from_options(**base)
    suffix = "." + args.format
    if args.manifest is not None:
        if args.contents or args.styles:
            raise UserError("--manifest lists the jobs: give no CONTENT or --styles with it")
        if args.sequence:
            raise UserError("--sequence takes its frames from CONTENT, not from --manifest")
        return manifest_jobs(args.manifest, base, out, suffix)
    if not args.contents:
        raise UserError("give CONTENT files or folders and --styles, or --manifest FILE")
    if not args.styles:
        raise UserError("--styles STYLE... is required with CONTENT")
    if out.resolve() in {Path(given).resolve() for given in [*args.contents, *args.styles]}:
        raise UserError(f"--out {args.out!r} is an input folder: the outputs would become inputs next time")
    blend = None
    if args.sequence:
        if not 0.0 <= args.sequence_blend <= 1.0:
            raise UserError(f"--sequence-blend must be from 0 to 1, got {args.sequence_blend}")
        if settings.scales > 1:
            raise UserError("--sequence needs --scales 1: the warm start is an image at the output size")
        blend = args.sequence_blend
    contents = expand(args.contents, "content", CONTENT_SUFFIXES)
    return pair_jobs(contents, expand(args.styles, "style"), settings, out, suffix, blend)


def settings_files(settings: Settings) -> dict[str, bytes]:
    """The files a job's settings name (--init FILE, --content-mask, --style-masks), for a worker without them."""
    paths = [settings.content_mask, *(settings.style_masks or ())]
    if settings.init not in INITS:
        paths.append(settings.init)
    return {path: read_input(path, "settings file") for path in paths if path}


def report_row(job: Job, status: str, *, seconds: float = 0.0, record: dict[str, Any] | None = None,
               error: str | None = None, output: str | None = None, worker: dict | None = None) -> dict[str, Any]:
    """A job's line in batch.jsonl."""
    row: dict[str, Any] = {
        "job": job.index, "status": status, "content": job.content, "style": job.style,
        "output": output, "seconds": seconds,
        "evaluations": record.get("evaluations") if record else None,
        "final_losses": record.get("losses", {}).get("final") if record else None,
        "error": error, "overrides": job.overrides, "settings_tag": job.tag,
        "precision": ((record or {}).get("compute") or {}).get("precision"),
    }
    if job.blend is not None:
        sequence = (record or {}).get("batch", {}).get("sequence") or {}
        row["warm_start"] = sequence.get("warm_start")
    if worker:
        row["worker"] = worker
    return row


Listener = Callable[[dict[str, Any]], None]


def run_jobs(jobs: Sequence[Job], done: dict[int, dict[str, Any]], pool: Pool, rows: dict[int, dict[str, Any]],
             listener: Listener, shared_output: bool = False, refused: Collection[int] = ()) -> None:
    """Run every job neither `done` nor `refused` (its output is another's) on `pool`, writing each output as it
    arrives, and put a report row per job in `rows` (filled as jobs settle, so an interrupted caller still has the
    finished ones). A job's frame successor (--sequence) is sent when it settles, starting from its result; after a
    refused frame, it starts cold."""
    todo = [job for job in jobs if job.index not in done and job.index not in refused]
    waiting = {job.previous: job for job in todo if job.previous is not None and job.previous not in done
               and job.previous not in refused}
    ready = deque(job for job in todo if job.previous is None or job.previous in done or job.previous in refused)
    starts: dict[int, np.ndarray | None] = {job.index: _output_image(jobs[job.previous])
                                            for job in ready if job.previous in done}
    # the hash of the output file each frame starts from, recorded in its sidecar (jobs.sequence_checked)
    start_files: dict[int, str | None] = {job.index: fingerprint(str(jobs[job.previous].output))
                                          for job in ready if job.previous in done}
    uses = Counter(path for job in todo for path in (job.content, job.style))
    staged: dict[str, Any] = {}

    def stage(path: str, what: str) -> Any:
        if path not in staged:
            staged[path] = pool.stage(path, what)
        uses[path] -= 1
        return staged[path] if uses[path] else staged.pop(path)  # the object store lets go once nobody needs it

    def settle(job: Job, row: dict[str, Any], image: np.ndarray | None) -> None:
        rows[job.index] = row
        listener(row)
        follower = waiting.pop(job.index, None)
        if follower is not None:
            starts[follower.index] = image if row["status"] == "done" else None  # a failed frame: a cold start
            start_files[follower.index] = fingerprint(row["output"]) if row["status"] == "done" else None
            ready.append(follower)

    while ready or pool.busy():
        while ready and pool.idle():
            job = ready.popleft()
            try:
                content, style = stage(job.content, "content image"), stage(job.style, "style image")
                request = _request(job, settings_files(job.settings), starts.pop(job.index, None), shared_output,
                                   has_follower=job.index in waiting, start_sha256=start_files.pop(job.index, None))
            except UserError as error:
                settle(job, report_row(job, "failed", error=str(error)), None)
                continue
            pool.submit(request, content, style)
        if not pool.busy():
            if ready:  # no worker is left (none could start): what remains fails with the reason
                reason = getattr(pool, "last_error", "") or "no worker is left"
                for job in [*ready, *_chained(waiting)]:
                    rows[job.index] = report_row(job, "failed", error=f"not run: {reason}")
                    listener(rows[job.index])
            break
        outcome = pool.next_outcome()
        job = jobs[outcome.index]
        settle(job, *_settled(job, outcome))


def _settled(job: Job, outcome: JobOutcome) -> tuple[dict[str, Any], np.ndarray | None]:
    """A job's report row from its worker's outcome, with its output written here unless the worker wrote it
    (--shared-output), and its image for the next frame (None when it failed: that frame starts cold)."""
    from keras_style.files.outputs import save_result

    if not outcome.ok:
        return report_row(job, "failed", seconds=outcome.seconds, error=outcome.error, worker=outcome.worker), None
    written = outcome.written
    if written is None:
        try:
            written = str(save_result(outcome.clip if outcome.clip is not None else outcome.image,
                                      lambda path: {**outcome.record, "output": str(path)}, job.output, True))
        except OSError as error:
            return report_row(job, "failed", seconds=outcome.seconds, worker=outcome.worker,
                              error=f"could not write {str(job.output)!r}: {error.strerror or error}"), None
    image = outcome.image if outcome.image is not None else _output_image(job)
    return report_row(job, "done", seconds=outcome.seconds, record=outcome.record, output=written,
                      worker=outcome.worker), image


def _chained(waiting: dict[int, Job]) -> list[Job]:
    return sorted(waiting.values(), key=lambda job: job.index)


def _request(job: Job, files: dict[str, bytes], start: np.ndarray | None, shared_output: bool, has_follower: bool,
             start_sha256: str | None = None):
    from keras_style.apps.workers import JobRequest

    return JobRequest(job, files, start, job_inputs(job), write=shared_output,
                      return_image=not shared_output or has_follower, start_sha256=start_sha256)


def _output_image(job: Job) -> np.ndarray | None:
    """A finished job's image from its output file (the warm start of the next frame of a resumed sequence)."""
    from PIL import Image

    try:
        with Image.open(job.output) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError):
        return None


class BatchProgress:
    """One tqdm bar over the whole batch: jobs settled out of all, with done, failed and skipped counts and the
    time left. A failed job's error is printed above the bar as it happens."""

    def __init__(self, total: int, skipped: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.counts = Counter({"done": 0, "failed": 0, "skipped": skipped})
        self.bar = tqdm(total=total, initial=skipped, desc="batch", unit="job", dynamic_ncols=True,
                        disable=not enabled, file=sys.stderr, postfix=self._counts())

    def __call__(self, row: dict[str, Any]) -> None:
        self.counts[row["status"]] += 1
        if row["status"] == "failed":
            self.bar.write(f"{PROGRAM}: job failed: {row['content']} x {row['style']}: {row['error']}",
                           file=sys.stderr)
        self.bar.set_postfix(self._counts(), refresh=False)
        self.bar.update(1)

    def _counts(self) -> dict[str, int]:
        return {status: self.counts[status] for status in ("done", "failed", "skipped")}

    def close(self) -> None:
        self.bar.close()


def write_report(path: Path, jobs: Sequence[Job], rows: dict[int, dict[str, Any]]) -> None:
    """DIR/batch.jsonl, one row per job in the batch's order (jobs that never ran: 'not run'), written atomically."""
    lines = [json.dumps(rows.get(job.index) or report_row(job, "not run"), default=str) for job in jobs]
    _write_atomically(path, ("\n".join(lines) + "\n").encode("utf-8"))


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


# The contact sheet's cells: at most this many px, fewer for big batches so the sheet stays under SHEET_MAX_SIDE.
SHEET_CELL = 128
SHEET_MAX_SIDE = 16000
JPEG_MAX_SIDE = 65500


def contact_sheet(jobs: Sequence[Job], rows: dict[int, dict[str, Any]], path: Path) -> None:
    """DIR/contact_sheet.jpg: the contents down the left, the styles (one column per style and settings) along the
    top, each job's output where they cross; a failed job's cell is crossed out in red. Within JPEG's 65,500 px a
    side: beyond that many rows or columns, the first ones."""
    from PIL import Image, ImageDraw, ImageOps

    from keras_style.files.outputs import save_image

    contents = list(dict.fromkeys(job.content for job in jobs))
    columns = list(dict.fromkeys((job.style, job.tag) for job in jobs))
    cell = max(16, min(SHEET_CELL, SHEET_MAX_SIDE // (max(len(contents), len(columns)) + 1)))
    contents = contents[: JPEG_MAX_SIDE // cell - 1]  # a sequence of thousands of frames: the first ones
    columns = columns[: JPEG_MAX_SIDE // cell - 1]  # thousands of styles: the first ones
    sheet = Image.new("RGB", ((len(columns) + 1) * cell, (len(contents) + 1) * cell), "white")
    draw = ImageDraw.Draw(sheet)

    def paste(source: str | Path, column: int, row: int) -> bool:
        from keras_style.files.images import load_image

        try:
            if is_clip(source):  # a clip, in or out: its first frame
                from keras_style.files.video import open_clip

                picture = load_image(next(iter(open_clip(source).iter_frames())))
            else:
                picture = load_image(source)
        except (UserError, OSError, StopIteration):
            return False
        picture = ImageOps.contain(picture, (cell - 4, cell - 4))  # small outputs are enlarged to the cell too
        sheet.paste(picture, (column * cell + (cell - picture.width) // 2, row * cell + (cell - picture.height) // 2))
        return True

    for row, content in enumerate(contents, start=1):
        paste(content, 0, row)
    for column, (style, _) in enumerate(columns, start=1):
        paste(style, column, 0)
    where = {content: row for row, content in enumerate(contents, start=1)}
    across = {key: column for column, key in enumerate(columns, start=1)}
    for job in jobs:
        if job.content not in where or (job.style, job.tag) not in across:
            continue
        column, row = across[(job.style, job.tag)], where[job.content]
        result = rows.get(job.index) or {}
        if result.get("status") in ("done", "skipped") and paste(result["output"], column, row):
            continue
        left, top = column * cell + 4, row * cell + 4
        draw.rectangle([left, top, left + cell - 9, top + cell - 9], fill=(224, 224, 224))
        if result.get("status") == "failed":
            draw.line([left, top, left + cell - 9, top + cell - 9], fill=(200, 0, 0), width=3)
            draw.line([left, top + cell - 9, left + cell - 9, top], fill=(200, 0, 0), width=3)
    save_image(np.asarray(sheet), path, replace=True)


def pool_kind(args: argparse.Namespace, lanes: int, say: Callable[[str], None]) -> str:
    """'ray', or 'in-process' (one worker in this process): with --workers 1, or without Ray when nothing needs
    it. Asking for more workers or an --address without Ray is a usage error that says how to install it."""
    from keras_style.apps.workers import local_cores, ray_available

    wants_ray = args.address is not None or (args.workers or 1) > 1
    if not ray_available():
        if wants_ray:
            asked = f"--address {args.address}" if args.address else f"--workers {args.workers}"
            raise UserError(f'{asked} needs Ray, which is not installed: pip install -e ".[batch]" (or pip install '
                            '"ray>=2.9"); --workers 1 runs the jobs in this process')
        if args.workers is None and lanes > 1 and local_cores() > 1:
            say('Ray is not installed, so the jobs run one at a time in this process; pip install -e ".[batch]" '
                "runs them on every core")
        return "in-process"
    if args.workers == 1 and args.address is None:
        return "in-process"
    if not wants_ray and not _ray_initialised() and (lanes < 2 or local_cores() < 2):
        return "in-process"  # Ray's start-up would buy nothing
    return "ray"


def open_pool(kind: str, args: argparse.Namespace, settings: Settings, lanes: int) -> Pool:
    """The workers pool_kind chose, started (Ray: connected or started, actors created)."""
    from keras_style.apps.workers import InProcessPool, RayPool, local_cores

    if kind == "in-process":
        return InProcessPool(settings, args.threads_per_worker or local_cores())
    try:
        return RayPool(settings, args.workers, args.threads_per_worker, args.address, lanes, args.job_timeout)
    except (ConnectionError, RuntimeError, TimeoutError, ValueError) as error:
        where = f"at --address {args.address}" if args.address else "on this machine"
        raise SetupError(f"could not start or reach Ray {where}: {first_line(error)}") from None


def _ray_initialised() -> bool:
    import ray

    return ray.is_initialized()


def dry_run(jobs: Sequence[Job], done: dict[int, dict[str, Any]], refused: dict[int, str]) -> None:
    for job in jobs:
        state = "done" if job.index in done else "held" if job.index in refused else "run "
        overrides = " ".join(f"{key}={value}" for key, value in job.overrides.items())
        start = f" (starts from {jobs[job.previous].output.name})" if job.previous is not None else ""
        held = f"  ({refused[job.index]})" if job.index in refused else ""
        print(f"{state} {job.pair} -> {job.output}{start}" + (f"  [{overrides}]" if overrides else "") + held)
    to_run = len(jobs) - len(done) - len(refused)
    print(f"{len(jobs)} jobs: {to_run} to run, {len(done)} already done"
          + (f", {len(refused)} held by other jobs' outputs (--force replaces them)" if refused else ""))


def _stop_on_sigterm() -> Any:
    """SIGTERM stops the batch as Ctrl-C does (the running jobs are lost, the report is written, exit 130); returns
    the handler it replaces."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def already_done(jobs: Sequence[Job], force: bool, local: bool = True) -> dict[int, dict[str, Any]]:
    """The sidecars of the jobs an earlier batch finished (jobs.finished, then jobs.sequence_checked), by index;
    none with --force. `local`: the jobs run on this machine, so what --precision auto resolves to here is what they
    would compute in (it loads TensorFlow, only when some output is there to compare)."""
    if force:
        return {}
    auto_precision = None
    if local and any(job.settings.precision == "auto" and job.output.is_file() for job in jobs):
        from keras_style.engine.backend import resolved_precision

        auto_precision = resolved_precision("auto")
    return sequence_checked(jobs, {job.index: record for job in jobs
                                   if (record := finished(job, auto_precision)) is not None})


def held_outputs(jobs: Sequence[Job], done: dict[int, dict[str, Any]], force: bool) -> dict[int, str]:
    """Why each job that must run may not write its output: another job's sidecar holds it (an earlier batch's pair
    with the same stems, a single-image run); none with --force, which replaces them."""
    if force:
        return {}
    held = {}
    for job in jobs:
        if job.index not in done and (holder := owner(job)) is not None:
            held[job.index] = (f"{job.output.name} belongs to {holder}: --force replaces it, or choose another "
                               "--out")
    return held


def run(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    try:
        args = build_parser().parse_intermixed_args(argv)
    except SystemExit as exit_:  # --help, --version (0) or a usage error, already printed as one line (2)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    jobs = plan(args)
    done = already_done(jobs, args.force, local=args.address is None)
    held = held_outputs(jobs, done, args.force)
    if args.dry_run:
        dry_run(jobs, done, held)
        return EXIT_OK

    def say(message: str) -> None:
        if not args.quiet:
            print(f"{PROGRAM}: {message}", file=sys.stderr)

    todo = [job for job in jobs if job.index not in done and job.index not in held]
    todo_indices = {job.index for job in todo}
    lanes = sum(1 for job in todo if job.previous not in todo_indices)  # a sequence's frames run one by one
    kind = pool_kind(args, lanes, say) if todo else "none"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    check_out(out, jobs)
    rows = {index: report_row(jobs[index], "skipped", record=record, output=str(jobs[index].output))
            for index, record in done.items()}
    previous = _stop_on_sigterm()
    pool = progress = None
    interrupted = False
    try:
        if todo:  # first, so that a Ray that cannot start is one line on its own
            pool = open_pool(kind, args, todo[0].settings, lanes)
            _stop_on_sigterm()  # again: ray.init puts its own handler in place
        progress = BatchProgress(len(jobs), len(done), enabled=not args.quiet)
        for index, reason in held.items():
            rows[index] = report_row(jobs[index], "failed", error=f"not run: {reason}")
            progress(rows[index])
        if pool is not None:
            run_jobs(jobs, done, pool, rows, progress, args.shared_output, held)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if progress is not None:
            progress.close()
            write_report(out / REPORT_NAME, jobs, rows)
        if pool is not None:
            pool.close()
        signal.signal(signal.SIGTERM, previous)
    contact_sheet(jobs, rows, out / SHEET_NAME)
    return summary(jobs, rows, out, interrupted, time.perf_counter() - started, say, args.quiet)


def check_out(out: Path, jobs: Sequence[Job]) -> None:
    """DIR is writable and every output's format can be written here (Pillow's for images, PyAV's for clips),
    before any job runs."""
    from keras_style.files.outputs import check_output

    for suffix in sorted({job.output.suffix.lower() for job in jobs}):
        probe = out / ("probe" + suffix)
        if is_clip(probe):
            from keras_style.files.video import check_clip_output

            check_clip_output(probe, force=True)
        else:
            check_output(probe, force=True)


def summary(jobs: Sequence[Job], rows: dict[int, dict[str, Any]], out: Path, interrupted: bool, seconds: float,
            say: Callable[[str], None], quiet: bool) -> int:
    """The batch's last lines and its exit status."""
    counts = Counter(row["status"] for row in rows.values())
    if interrupted:
        print(f"{PROGRAM}: interrupted: {counts['done'] + counts['skipped']} of {len(jobs)} jobs finished; run the "
              "same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not quiet:
        print(f"{counts['done']} done, {counts['skipped']} skipped (already done), {counts['failed']} failed in "
              f"{seconds:.1f} s; report {out / REPORT_NAME}, contact sheet {out / SHEET_NAME}")
    precisions = Counter(row["precision"] for row in rows.values() if row.get("precision"))
    if len(precisions) > 1:  # a cluster resolves --precision auto per worker, and a resumed batch keeps outputs
        mixed = ", ".join(f"{name}: {count}" for name, count in sorted(precisions.items()))
        say(f"the outputs were computed in different precisions ({mixed}); --precision float32 (or mixed) with "
            "--force makes them alike")
    if counts["failed"]:
        print(f"{PROGRAM}: {counts['failed']} of {len(jobs)} jobs failed; their errors are in {out / REPORT_NAME}",
              file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """`keras-style batch ...`: one-line errors, never a traceback (options.guarded_main)."""
    return guarded_main(PROGRAM, run, argv)


if __name__ == "__main__":
    sys.exit(main())
