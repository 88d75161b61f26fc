"""The runner of one scale of a run's plan (assemble.ScalePlan) optimised as a whole image. tiling.py has the runner
for a scale in tiles, with the same signature; transfer.py picks one per scale."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from keras_style.engine.optimize import minimize
from keras_style.engine.terms import PreviousFrame
from keras_style.errors import Converged
from keras_style.files.images import preprocess
from keras_style.run.assemble import RunPlan, ScalePlan, evaluator_for
from keras_style.run.loading import SizedImages
from keras_style.run.monitor import Monitor


def previous_frame(images: SizedImages) -> PreviousFrame | None:
    """The temporal term's target as network input, from a video frame's images."""
    if images.previous is None:
        return None
    warped, reliable = images.previous
    return PreviousFrame(preprocess(warped), reliable.astype(np.float32)[None, :, :, None])


def run_whole_scale(model, plan: RunPlan, scale: ScalePlan, monitor: Monitor, record: dict[str, Any]) -> None:
    """Optimise one scale from its start image; fills its record (evaluations, seconds, compute, start-up) even when
    the run is stopped."""
    started = time.perf_counter()
    images = scale.images
    evaluator = evaluator_for(model, scale.loss, scale.compute, preprocess(images.content),
                              [preprocess(style) for style in images.styles], mode=plan.mode, shares=plan.shares,
                              masks=images.masks, per_style_masks=plan.per_style_masks, observer=monitor,
                              previous=previous_frame(images))
    optimising = time.perf_counter()
    record.update(compute={**evaluator.compute.as_dict(), "optimizer": scale.optimizer.optimizer,
                           "optimizer_reason": scale.optimizer.reason}, targets_seconds=optimising - started,
                  optimisation_started=optimising)
    try:
        minimize(evaluator, preprocess(images.start), scale.optimizer)
        # a continuous run that ends short: scipy's line search gave up, restarts included (the articles' restart
        # loop ends each restart by scipy's own tolerances, as they do), or the device L-BFGS's search failed from a
        # gradient step (evaluator.stalled)
        if evaluator.stalled or (scale.optimizer.outer_iterations is None
                                 and evaluator.passes < scale.optimizer.evaluation_budget):
            record["stopped"] = "stalled"
    except Converged:  # ends this scale; a coarse scale hands over to the next
        record["stopped"] = "converged"
    finally:
        record.update(evaluations=evaluator.passes, seconds=round(time.perf_counter() - optimising, 3),
                      traces=evaluator.traces, network_seconds=round(evaluator.network_seconds, 3),
                      first_pass_seconds=round(evaluator.first_pass_seconds, 3))
