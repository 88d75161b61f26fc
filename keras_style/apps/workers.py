"""Who runs a batch's jobs: one worker in this process, or a pool of Ray actors (`pip install -e ".[batch]"`).

A worker gets a job's inputs as bytes (no shared file system needed), builds the network once (engine/network.py caches
it per process) and runs job after job; it returns the image and the sidecar's record, or the job's error as one
line, and never raises for a bad job. The driver (keras_style.apps.batch) decides what runs when and writes the files.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from keras_style.apps.jobs import FILE_SETTINGS, Job, read_input
from keras_style.config.settings import Settings
from keras_style.engine.backend import import_backend_quietly, set_threads
from keras_style.errors import UserError, first_line
from keras_style.run.limits import cgroup_cpu_limit

# Passed to every actor: where the weights are (when that folder exists on the worker's machine) and TensorFlow's
# log level, which a worker's process would otherwise not inherit on another machine.
FORWARDED_VARIABLES = ("KERAS_STYLE_WEIGHTS_DIR", "TF_CPP_MIN_LOG_LEVEL")
INSTALL_HINT = 'pip install -e ".[batch]"'


@dataclass(frozen=True)
class JobRequest:
    """What a worker needs for one job besides the content's and the style's bytes."""

    job: Job
    files: dict[str, bytes] = field(default_factory=dict)  # the settings' files (--init FILE, masks): path -> bytes
    start_from: np.ndarray | None = None  # --sequence: the previous frame's result (uint8 RGB)
    inputs: dict[str, Any] = field(default_factory=dict)  # jobs.job_inputs(job), recorded in the sidecar
    write: bool = False  # --shared-output: the worker writes job.output itself
    return_image: bool = True  # the driver needs the image: it writes it, or the next frame starts from it
    start_sha256: str | None = None  # --sequence: the sha256 of start_from's output file


@dataclass
class JobOutcome:
    """A job's result as the worker reports it: the image and sidecar record, or the error."""

    index: int
    seconds: float
    error: str | None = None
    image: np.ndarray | None = None
    clip: bytes | None = None  # a clip job's encoded video (image is then None)
    record: dict[str, Any] | None = None  # the sidecar (outputs.sidecar plus the batch section)
    written: str | None = None  # the worker wrote the pair here (--shared-output)
    worker: dict[str, Any] = field(default_factory=dict)  # host, pid, jobs run, VGG builds in that process

    @property
    def ok(self) -> bool:
        return self.error is None


# What sizes each worker process's thread pools: TensorFlow's, and OpenBLAS's (numpy and scipy; scipy's L-BFGS-B
# runs on it). They are read when each library loads, so a Ray worker gets them in its environment from the start.
# The BLAS threads change the results: a multi-threaded dot product adds in another order, and L-BFGS carries the
# last bit into a different image (measured: OPENBLAS_NUM_THREADS=1 and 2 gave different outputs at 101x128 px,
# while TensorFlow's thread count changed nothing). In-process and Ray runs with the same threads match byte for
# byte.
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS")


def thread_environment(threads: int) -> dict[str, str]:
    return {variable: str(threads) for variable in THREAD_VARIABLES}


def configure_threads(threads: int) -> int:
    """TensorFlow's intra- and inter-op thread pools, set before TensorFlow starts them (N workers x T threads =
    the cores, so none is oversubscribed); returns the intra-op threads in force. Where TensorFlow is already
    running in this process (an in-process batch after other work) its pools cannot change any more and are kept;
    numpy's BLAS keeps the threads it started with (OPENBLAS_NUM_THREADS, else one per core)."""
    if "tensorflow" not in sys.modules:
        os.environ.update({name: value for name, value in thread_environment(threads).items()
                           if name.startswith("TF_")})
    import_backend_quietly()
    return set_threads(threads) or local_cores()


def _vgg_builds() -> int:
    """How many VGGs this process has built with their weights (network._vgg's cache misses): 1 per network and
    precision, however many jobs ran."""
    from keras_style.engine import network

    return network._vgg.cache_info().misses


class JobRunner:
    """Runs jobs one after another in this process; the network is built on the first job's settings, here, so the
    first job does not pay for it alone, and kept for the others (engine/network.py's per-process cache)."""

    def __init__(self, settings: Settings | None = None, threads: int | None = None) -> None:
        self.jobs = 0
        self.threads = threads
        self.host = socket.gethostname()
        self.node: str | None = None  # the Ray node this worker runs on (RayWorker sets it)
        if settings is not None:
            import_backend_quietly()
            from keras_style.run.assemble import feature_model_for

            try:
                feature_model_for(settings)
            except UserError:
                pass  # bad weights: each job reports it

    def run(self, request: JobRequest, content: bytes | None, style: bytes | None) -> JobOutcome:
        """One job; every error becomes the outcome's one-line message (only KeyboardInterrupt goes through)."""
        job = request.job
        started = time.perf_counter()
        self.jobs += 1
        try:
            outcome = (self._run_clip if job.is_clip else self._run)(request, content, style)
        except UserError as error:
            outcome = JobOutcome(job.index, 0.0, error=str(error))
        except MemoryError:
            outcome = JobOutcome(job.index, 0.0, error="out of memory: try a smaller --size or fewer --workers")
        except Exception as error:  # any other failure is this job's, not the batch's
            outcome = JobOutcome(job.index, 0.0, error=f"{type(error).__name__}: {first_line(error)}")
        outcome.seconds = round(time.perf_counter() - started, 3)
        outcome.worker = {"host": self.host, "node": self.node, "pid": os.getpid(), "threads": self.threads,
                          "jobs": self.jobs, "vgg_builds": _vgg_builds()}
        return outcome

    def _run(self, request: JobRequest, content: bytes | None, style: bytes | None) -> JobOutcome:
        from keras_style.files.outputs import save_result, sidecar
        from keras_style.run.loading import prepare
        from keras_style.run.transfer import stylize_result

        job = request.job
        with tempfile.TemporaryDirectory(prefix="keras-style-job-") as folder:
            local = _Materialised(Path(folder))
            content_path, style_path, settings = local.inputs(request, content, style)
            with local.named_as_given():
                prepared = prepare(content_path, [style_path], settings)
                if request.start_from is not None:
                    prepared = warm_started(prepared, request.start_from, job.blend or 0.0, settings)
                import_backend_quietly()
                result = stylize_result(content_path, [style_path], settings=settings, prepared=prepared)
        result.settings = job.settings  # the sidecar records the paths the user gave, not this worker's copies
        batch = self._batch_section(request)
        if job.blend is not None:
            batch["sequence"] = {"blend": job.blend, "warm_start": request.start_from is not None,
                                 "start_sha256": request.start_sha256 if request.start_from is not None else None}
        record = {**sidecar(result, job.output), "batch": batch}
        written = None
        if request.write:
            written = str(save_result(result.image, lambda path: {**record, "output": str(path)}, job.output, True))
        image = result.image if request.return_image or not request.write else None
        return JobOutcome(job.index, 0.0, image=image, record=record, written=written)


    def _batch_section(self, request: JobRequest) -> dict[str, Any]:
        """The sidecar's batch section: what the job read (resuming compares it) and who ran it."""
        return {"content": request.job.content, "style": request.job.style, "inputs": request.inputs,
                "worker": {"host": self.host, "node": self.node, "pid": os.getpid()}}

    def _run_clip(self, request: JobRequest, content: bytes | None, style: bytes | None) -> JobOutcome:
        """A video CONTENT: every frame in order on this worker (run/video.py), encoded with the clip's sound; the
        outcome carries the video's bytes, or the worker writes it (--shared-output)."""
        from keras_style.files.outputs import save_result, versions
        from keras_style.files.video import open_clip
        from keras_style.run.video import stylize_clip

        job = request.job
        with tempfile.TemporaryDirectory(prefix="keras-style-job-") as folder:
            local = _Materialised(Path(folder))
            content_path, style_path, settings = local.inputs(request, content, style)
            encoded = Path(folder) / ("stylized" + job.output.suffix)
            with local.named_as_given():
                import_backend_quietly()
                frames = Path(folder) / "frames"
                frames.mkdir()
                records, note = stylize_clip(open_clip(content_path), [style_path], settings, encoded, frames,
                                             Path(folder) / "clip.json", {})
            data = encoded.read_bytes()
        record = {
            "output": str(job.output), "interrupted": False, "stopped": "budget",
            "settings": job.settings.as_dict(), "versions": versions(),
            "evaluations": sum(frame["evaluations"] for frame in records),
            "seconds": round(sum(frame["seconds"] for frame in records), 3),
            "losses": {"initial": records[0]["losses"]["initial"], "final": records[-1]["losses"]["final"]},
            "compute": records[-1]["compute"], "audio": note, "frames": records, "batch": self._batch_section(request),
        }
        written = None
        if request.write:
            written = str(save_result(data, lambda path: {**record, "output": str(path)}, job.output, True))
        return JobOutcome(job.index, 0.0, clip=None if request.write else data, record=record, written=written)


class _Materialised:
    """A job's input bytes as files in the worker's own temporary folder, so that the library's loader (and its
    one-line messages) serve unchanged; messages name the paths the user gave, not these copies."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.names: dict[str, str] = {}

    def file(self, kind: str, given: str, data: bytes | None, what: str) -> str:
        if data is None:
            raise UserError(f"{what} {given!r} cannot be read on the driver")
        path = self.folder / kind / Path(given).name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.names[repr(str(path))] = repr(given)
        return str(path)

    def inputs(self, request: JobRequest, content: bytes | None, style: bytes | None) -> tuple[str, str, Settings]:
        """A job's content (an image or a clip), style and settings, with every file they name here."""
        job = request.job
        content_path = self.file("content", job.content, content, "video" if job.is_clip else "content image")
        style_path = self.file("style", job.style, style, "style image")
        return content_path, style_path, self.settings(job.settings, request.files)

    def settings(self, settings: Settings, files: dict[str, bytes]) -> Settings:
        """The settings with each file they name (--init FILE, masks) replaced by this worker's copy."""
        changes: dict[str, Any] = {}
        for name in FILE_SETTINGS:
            value = getattr(settings, name)
            if isinstance(value, str) and value in files:
                changes[name] = self.file(name, value, files[value], name)
            elif isinstance(value, tuple):
                changes[name] = tuple(self.file(f"{name}{i}", each, files.get(each), name)
                                      for i, each in enumerate(value))
        return replace(settings, **changes)

    @contextlib.contextmanager
    def named_as_given(self) -> Iterator[None]:
        """UserErrors raised inside name the user's paths instead of this worker's copies."""
        try:
            yield
        except UserError as error:
            message = str(error)
            for local, given in self.names.items():
                message = message.replace(local, given)
            raise UserError(message) from None


def warm_started(prepared, previous: np.ndarray, blend: float, settings: Settings):
    """--sequence: the run starts from blend x the previous frame's result + (1 - blend) x this frame's content
    (both at this frame's output size), instead of from --init. A warm start as in cysmith's video mode, but without
    optical flow: nothing moves the previous result along with the picture."""
    from PIL import Image

    from keras_style.files.colors import grey, luminance
    from keras_style.files.images import resize, to_array

    final = prepared.final
    height, width = final.content.shape[:2]
    before = to_array(resize(Image.fromarray(np.asarray(previous, dtype=np.uint8)), width, height, "previous frame"))
    start = (blend * before + (1.0 - blend) * final.photo).astype(np.float32)  # the photo: in colour in every mode
    if settings.preserve_colors == "luminance-only":  # that mode's network sees grey images only
        start = grey(luminance(start))
    return prepared.with_final(final._replace(start=start))


class Pool(Protocol):
    """The workers as the driver sees them: stage inputs, give an idle worker a job, collect the next outcome."""

    workers: int
    threads: int

    def stage(self, path: str, what: str) -> Any:
        """An input file for the jobs that read it (UserError when it cannot be read)."""

    def idle(self) -> int: ...

    def busy(self) -> int: ...

    def submit(self, request: JobRequest, content: Any, style: Any) -> None: ...

    def next_outcome(self) -> JobOutcome: ...

    def close(self) -> None: ...


class InProcessPool:
    """One worker in this process (no Ray): the same job loop, one job at a time."""

    def __init__(self, settings: Settings, threads: int) -> None:
        self.workers, self.threads = 1, configure_threads(threads)
        self.runner = JobRunner(settings, self.threads)
        self.pending: list[tuple[JobRequest, Any, Any]] = []

    def stage(self, path: str, what: str) -> Any:
        # read when its job runs: a style that every job uses is not held in memory for the whole batch
        return path, what

    def idle(self) -> int:
        return 0 if self.pending else 1

    def busy(self) -> int:
        return len(self.pending)

    def submit(self, request: JobRequest, content: Any, style: Any) -> None:
        self.pending.append((request, content, style))

    def next_outcome(self) -> JobOutcome:
        request, content, style = self.pending.pop()
        try:
            content, style = read_input(*content), read_input(*style)
        except UserError as error:
            return JobOutcome(request.job.index, 0.0, error=str(error))
        return self.runner.run(request, content, style)

    def close(self) -> None:
        self.pending.clear()


def local_cores() -> int:
    """The cores this process may use: its affinity (which containers and taskset narrow), and no more than its
    cgroup's CPU quota (docker --cpus, a Kubernetes limit: limits.py)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    return min(cores, quota) if quota is not None else cores


def worker_layout(cpus: float, gpus: float, workers: int | None, threads: int | None, lanes: int,
                  memory_workers: int | None = None) -> tuple[int, int]:
    """(workers, TensorFlow threads per worker) from what the cluster has and what the user asked.

    GPUs: one worker per GPU, sharing the CPUs. CPUs only: one thread per worker and a worker per core, so that
    the cores are used without oversubscribing them (a 2-core machine: 2 workers x 1 thread). Never more workers
    than jobs that can run at once (`lanes`), nor than the memory holds (`memory_workers`), unless asked."""
    cpus = max(1, int(cpus))
    if workers is None:
        if gpus >= 1:
            workers = int(gpus)
        else:
            workers = max(1, cpus // (threads or 1))
        workers = max(1, min(workers, lanes, memory_workers or workers))
    if threads is None:
        threads = max(1, cpus // workers)
    return workers, threads


def memory_workers(settings: Settings, memory_bytes: float | None) -> int | None:
    """How many runs at --size fit in `memory_bytes` (memory.estimate_bytes of a square output, an upper bound)."""
    if not memory_bytes:
        return None
    from keras_style.run.memory import estimate_bytes

    return max(1, int(memory_bytes // estimate_bytes(settings, settings.size, settings.size)))


class RayWorker:
    """The Ray actor (ray.remote(RayWorker)): thread pools set before TensorFlow loads, the network built once,
    then any number of jobs."""

    def __init__(self, settings: Settings, threads: int, environment: dict[str, str]) -> None:
        weights = environment.pop("KERAS_STYLE_WEIGHTS_DIR", None)
        if weights and os.path.isdir(weights):  # the driver's folder, where this machine has it
            os.environ.setdefault("KERAS_STYLE_WEIGHTS_DIR", weights)
        for name, value in environment.items():
            os.environ.setdefault(name, value)
        self.runner = JobRunner(settings, configure_threads(threads))
        import ray

        self.runner.node = ray.get_runtime_context().get_node_id()

    def run(self, request: JobRequest, content: bytes | None, style: bytes | None) -> JobOutcome:
        return self.runner.run(request, content, style)


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


# A job with no result after this long is taken for hung (--job-timeout); Ray is asked this often whether one is.
JOB_TIMEOUT_SECONDS = 4 * 3600.0
JOB_POLL_SECONDS = 5.0
# A job whose worker process dies runs once more on a new worker (a crash or a lost node may not come back).
JOB_ATTEMPTS = 2


@dataclass
class Running:
    """A job on a Ray worker: what a retry or a timeout needs."""

    actor: Any
    request: JobRequest
    started: float  # time.monotonic()
    content: Any  # the inputs' object references
    style: Any
    attempt: int

class RayPool:
    """Ray actors, one job each at a time (so a killed batch loses only the jobs that were running).

    Connects to `address` (ray://..., auto, host:port), or to the Ray already initialised in this process, or
    starts a local instance with this machine's cores (shut down at the end). Inputs go through the object store
    as bytes; each actor reserves its threads' CPUs, and one GPU where the cluster has GPUs (a share of them
    when more workers than GPUs are asked for), so every actor fits the cluster as it is."""

    def __init__(self, settings: Settings, workers: int | None, threads: int | None, address: str | None,
                 lanes: int, job_timeout: float = JOB_TIMEOUT_SECONDS) -> None:
        import ray

        self.ray = ray
        self.job_timeout = job_timeout
        self.owned = not ray.is_initialized()
        if self.owned:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "logging_level": logging.ERROR}
            if address:
                ray.init(address=address, **options)
            else:
                # "local": a new instance even where a cluster left its address behind (/tmp/ray), which ray.init
                # would otherwise join and refuse num_cpus for
                ray.init(address="local", num_cpus=local_cores(), **options)
        try:
            resources = ray.cluster_resources()
            cpus, gpus = resources.get("CPU", 1), resources.get("GPU", 0)
            self.workers, self.threads = worker_layout(cpus, gpus, workers, threads, lanes,
                                                       memory_workers(settings, resources.get("memory")))
            self.cpus = min(float(self.threads), cpus / self.workers)
            self.gpus = min(1.0, gpus / self.workers) if gpus else 0.0
            environment = {name: os.environ[name] for name in FORWARDED_VARIABLES if name in os.environ}
            self.actor_class = ray.remote(RayWorker)
            # the thread variables reach the worker process before it loads numpy or TensorFlow (Ray's own default,
            # OMP_NUM_THREADS = the CPUs reserved, would not follow --threads-per-worker)
            runtime_env = {"env_vars": thread_environment(self.threads)}
            # SPREAD: the workers over the cluster's nodes, not packed on the first one whose CPUs fit them all
            self.start = lambda: self.actor_class.options(
                num_cpus=self.cpus, num_gpus=self.gpus, runtime_env=runtime_env, scheduling_strategy="SPREAD").remote(
                settings, self.threads, dict(environment))
            self.idle_actors = [self.start() for _ in range(self.workers)]
            self.running: dict[Any, Running] = {}  # by the reference of the job's result
            self.last_error = ""
        except BaseException:
            self.close()
            raise

    def stage(self, path: str, what: str) -> Any:
        return self.ray.put(read_input(path, what))

    def idle(self) -> int:
        return len(self.idle_actors)

    def busy(self) -> int:
        return len(self.running)

    def submit(self, request: JobRequest, content: Any, style: Any, attempt: int = 1) -> None:
        actor = self.idle_actors.pop()
        # the inputs' references stay here while the job runs: a retry sends them again
        self.running[actor.run.remote(request, content, style)] = Running(actor, request, time.monotonic(), content,
                                                                          style, attempt)

    def next_outcome(self) -> JobOutcome:
        while True:
            ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=JOB_POLL_SECONDS)
            if ready:
                break
            overdue = [ref for ref, running in self.running.items()
                       if time.monotonic() - running.started > self.job_timeout]
            if overdue:  # a hung worker: its job fails, a new worker takes its place
                running = self.running.pop(overdue[0])
                self.ray.kill(running.actor)
                self.idle_actors.append(self.start())
                return JobOutcome(running.request.job.index, 0.0, error=f"no result after {self.job_timeout:g} s "
                                  "(--job-timeout): its worker was stopped")
        running = self.running.pop(ready[0])
        try:
            outcome = self.ray.get(ready[0])
        except (self.ray.exceptions.RayActorError, *_out_of_memory(self.ray)) as error:
            # The worker process died (out of memory, a crash, a node lost): a new worker takes its place and the
            # job runs once more; a second death fails it alone. One that could not start (its __init__ raised) is
            # not replaced: the next would fail too.
            self.ray.kill(running.actor)
            if getattr(error, "actor_init_failed", False):
                self.last_error = f"no worker could start: {_last_line(error)}"
                return JobOutcome(running.request.job.index, 0.0, error=self.last_error)
            # the new worker goes to the back of the idle ones: a retry takes a worker that is already running if one
            # is idle, and the new one only otherwise (it must import TensorFlow and build the network first)
            self.idle_actors.insert(0, self.start())
            if running.attempt < JOB_ATTEMPTS:
                self.submit(running.request, running.content, running.style, running.attempt + 1)
                return self.next_outcome()
            self.last_error = (f"its worker process died {running.attempt} times (out of memory, or a crash: see "
                               "Ray's worker logs)")
            return JobOutcome(running.request.job.index, 0.0, error=self.last_error)
        except self.ray.exceptions.RayError as error:
            self.idle_actors.append(running.actor)
            return JobOutcome(running.request.job.index, 0.0, error=f"{type(error).__name__}: {_last_line(error)}")
        self.idle_actors.append(running.actor)
        outcome.worker["attempt"] = running.attempt
        return outcome

    def close(self) -> None:
        running = [running.actor for running in getattr(self, "running", {}).values()]
        for actor in getattr(self, "idle_actors", []) + running:
            try:
                self.ray.kill(actor)
            except Exception:  # already gone
                pass
        if self.owned and self.ray.is_initialized():
            self.ray.shutdown()


def _out_of_memory(ray: Any) -> tuple[type, ...]:
    """Ray's OutOfMemoryError (a RayError, not a RayActorError): its memory monitor killed the worker process, so
    the actor is as dead as after a crash."""
    error = getattr(ray.exceptions, "OutOfMemoryError", None)
    return (error,) if error is not None else ()


def _last_line(error: BaseException) -> str:
    """The line of Ray's long message that says what went wrong: its last one (the original exception, after the
    traceback), without terminal colours."""
    import re

    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else type(error).__name__
