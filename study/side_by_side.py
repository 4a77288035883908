"""Stages side by side: the GAN, its sampling and the quality measure in worker processes beside the classifier arms.

The arms that need no synthetic images (baseline, classic augmentation, oversampling, class weights) do not wait
for the GAN: with more than one worker (`--workers`, default one per core) a study runs its GAN stage, then its
sampling, in one worker process while those arms' models train in the others; the quality measure and the GAN
arms' models start as soon as the synthetic images exist, in whichever worker is free. Every stage writes the
same folders and study.json entries as one after another, and records its own seconds; the classify stage's
seconds are the whole side-by-side stretch.

A study with several GANs (three or more classes), a conditional GAN (whose arms need images of every class)
or a multi-device strategy runs its stages one after another, the classifier's models still side by side.
"""

import logging
from collections.abc import Callable

from ..runs import SYNTHETIC_FOLDER
from ..runtime.workers import Job, plan_workers
from .stages import gan_classes, run_stages_in_worker, study_classify_config, unfinished_classify_run
from .state import StudyState

log = logging.getLogger("xgan")

OVERLAPPED = ("gan", "sample", "quality", "classify")  # the stages that run side by side, in their order


def side_by_side_workers(state: StudyState) -> tuple[int, int]:
    """(workers, threads) the study's GAN, sampling, quality and classifier stages run side by side in; workers 1: one
    after another (a multi-device strategy, a conditional GAN, several GANs)."""
    config = state.config
    if config.strategy != "default" or config.conditional or len(gan_classes(state)) != 1:
        return 1, 0
    return plan_workers(config.workers)


def run_side_by_side(state: StudyState, echo: Callable[[str], None], enabled: tuple[str, ...]) -> None:
    """Run the stages of OVERLAPPED that `enabled` holds and are not done yet, side by side, and finish classify.

    The GAN and its sampling are one job, the quality measure one more after it; the classifier's arms that need
    synthetic images wait for the first, the others start at once. The workers record their stages in study.json;
    it is read back here before classify is recorded.
    """
    from ..classifier.classify import classify

    folder = str(state.folder)
    upstream, synthetic_after = [], None
    making = tuple(name for name in ("gan", "sample") if name in enabled and not state.done(name))
    if making:
        upstream.append(Job("gan", run_stages_in_worker, (folder, making), description="the GAN and its sampling"))
        synthetic_after = "gan"
    if "quality" in enabled and not state.done("quality"):
        upstream.append(Job("quality", run_stages_in_worker, (folder, ("quality",)), after=("gan",) if making else (),
                            description="the quality measure"))
    # One GAN: sampling writes synthetic/ straight under the study folder.
    synthetic = (state.folder / SYNTHETIC_FOLDER,) if making else None
    result = classify(study_classify_config(state, synthetic), upstream=upstream, synthetic_after=synthetic_after,
                      resume=unfinished_classify_run(state))
    state.stages = StudyState.load(state.folder).stages  # with what the workers recorded
    for job in upstream:
        for line in result.upstream[job.key]:
            echo(line)
    echo(result.summary)
    state.finish("classify", folder=str(result.run_dir), seconds=round(result.seconds, 1))
