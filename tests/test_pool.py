"""The Ray pool's failure handling against a stand-in for Ray (no cluster needed): a worker killed for memory is
replaced and its job runs once more, a hung job times out, a Ray that cannot start is a failure (exit 1), not a
usage error (exit 2)."""
from __future__ import annotations

import types
from pathlib import Path

import pytest

from keras_style.apps import batch, workers
from keras_style.apps.jobs import Job
from keras_style.apps.workers import JobOutcome, JobRequest, RayPool
from keras_style.config.settings import Settings
from keras_style.errors import SetupError


class RayError(Exception):
    pass


class RayActorError(RayError):
    pass


class OutOfMemoryError(RayError):
    pass


def fake_pool(*outcomes, ready=True, job_timeout=3600.0):
    """A RayPool with one running job on 'actor-1'; each ray.get (the first run, then a retry) raises or returns the
    next of `outcomes`."""
    killed = []
    results = iter(outcomes)

    def get(reference):
        outcome = next(results)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    ray = types.SimpleNamespace(
        exceptions=types.SimpleNamespace(RayError=RayError, RayActorError=RayActorError,
                                         OutOfMemoryError=OutOfMemoryError),
        wait=lambda references, num_returns, timeout: (list(references) if ready else [], []),
        get=get, kill=lambda actor: killed.append(actor.name))
    pool = object.__new__(RayPool)
    pool.ray, pool.job_timeout, pool.last_error = ray, job_timeout, ""

    def actor(name):
        return types.SimpleNamespace(name=name, run=types.SimpleNamespace(remote=lambda *inputs: object()))

    started = iter(actor(f"actor-{number}") for number in range(2, 10))
    pool.start = lambda: next(started)
    pool.idle_actors = []
    job = Job(0, "c.png", "s.png", Path("out.png"), Settings.from_options())
    pool.running = {"reference": workers.Running(actor("actor-1"), JobRequest(job), 0.0, "content", "style", 1)}
    return pool, killed


def test_a_job_whose_worker_dies_runs_once_more_on_a_new_worker():
    pool, killed = fake_pool(OutOfMemoryError("Task was killed due to the node running low on memory"),
                             JobOutcome(0, 1.0))
    outcome = pool.next_outcome()
    assert outcome.ok and outcome.worker["attempt"] == 2
    assert killed == ["actor-1"] and [actor.name for actor in pool.idle_actors] == ["actor-2"]


def test_a_job_whose_worker_dies_twice_fails_and_the_dead_workers_are_replaced():
    pool, killed = fake_pool(OutOfMemoryError("low on memory"), RayActorError("The actor died unexpectedly"))
    outcome = pool.next_outcome()
    assert not outcome.ok and outcome.error.startswith("its worker process died 2 times")
    assert killed == ["actor-1", "actor-2"] and [actor.name for actor in pool.idle_actors] == ["actor-3"]


def test_another_ray_error_keeps_the_worker():
    pool, killed = fake_pool(RayError("ObjectLostError: lost"))
    outcome = pool.next_outcome()
    assert not outcome.ok and killed == [] and [actor.name for actor in pool.idle_actors] == ["actor-1"]
    pool, _ = fake_pool(JobOutcome(0, 1.0))
    assert pool.next_outcome().index == 0 and [actor.name for actor in pool.idle_actors] == ["actor-1"]


def test_a_hung_job_times_out_and_its_worker_is_replaced(monkeypatch):
    monkeypatch.setattr(workers, "JOB_POLL_SECONDS", 0.01)
    pool, killed = fake_pool(JobOutcome(0, 1.0), ready=False, job_timeout=0.05)
    outcome = pool.next_outcome()
    assert not outcome.ok and "no result after 0.05 s (--job-timeout)" in outcome.error
    assert killed == ["actor-1"] and [actor.name for actor in pool.idle_actors] == ["actor-2"] and pool.running == {}


def test_a_ray_that_cannot_start_exits_1_with_one_line(monkeypatch, capsys):
    def failing(argv):
        raise SetupError("could not start or reach Ray at --address nowhere:1: connection refused")

    monkeypatch.setattr(batch, "run", failing)
    assert batch.main(["x"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "keras-style batch: error: could not start or reach Ray at --address nowhere:1: connection refused"]


def test_shared_output_makes_a_relative_out_absolute(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    for name in ("c.png", "s.png"):
        Image.new("RGB", (64, 48), "white").save(name)
    args = batch.build_parser().parse_args(["c.png", "--styles", "s.png", "--out", "out", "--shared-output"])
    (job,) = batch.plan(args)
    assert job.output.is_absolute() and job.output.parent == tmp_path / "out"
    args = batch.build_parser().parse_args(["c.png", "--styles", "s.png", "--out", "out", "--job-timeout", "0"])
    with pytest.raises(batch.UserError, match="--job-timeout must be above 0"):
        batch.plan(args)
