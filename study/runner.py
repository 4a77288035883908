"""The whole study in one call: split, GAN, sample, quality, every classifier arm, one report.

`run_study` keeps a `study.json` in its folder with the stages done so far; an interrupted study
resumes at the stage that did not finish (the GAN stage resumes from its last checkpoint, and a GAN
finished outside the study counts as done). Everything that can be checked is checked before the
first stage: the data, the options, the cut and how many synthetic images the ratio needs.
With several minority sizes, `run_study` runs a sweep: one study per size and a figure across them.

The study's parts, each in its own module: `config` (StudyConfig and the presets), `plan` (plan_study:
the checks and counts made before anything trains), `state` (study.json), `stages` (the six `Stage`
records). Here: the control that runs, resumes and sweeps them.
"""

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import UserError
from ..runs import new_run_dir
from ..runtime.workers import Job, plan_workers, run_jobs
from .config import (CURATION_POOL, DEFAULT_MINORITY_TRAIN, DEFAULT_STUDY_DATA, GAN_SIZES, MIN_SYNTHETIC, MULTI_WORKER_REFUSAL,
                     PRESETS, StudyConfig)
from .plan import StudyPlan, default_study_size, plan_study
from .side_by_side import OVERLAPPED, run_side_by_side, side_by_side_workers
from .stages import STAGES, Stage
from .state import STUDY_FILE, StudyState, find_study

log = logging.getLogger("xgan")

# The names this module held before it was split, for callers that import them from here.
__all__ = ["CURATION_POOL", "DEFAULT_MINORITY_TRAIN", "DEFAULT_STUDY_DATA", "GAN_SIZES", "MIN_SYNTHETIC", "MULTI_WORKER_REFUSAL",
           "PRESETS", "STAGES", "STUDY_FILE", "Stage", "StudyConfig", "StudyPlan", "StudyState", "check_study_strategy",
           "default_study_size", "find_study", "plan_study", "run_study"]


def run_study(config: StudyConfig | None = None, resume: Path | None = None, resume_latest: bool = False,
              accept_failed_gan: bool = False, echo: Callable[[str], None] = log.info) -> Path:
    """Run (or resume) the whole study, or a sweep of studies over minority sizes, and return its folder.

    Args:
        config: the options of a new study (with `resume_latest`, only its `out` is read).
        resume, resume_latest: resume that study folder, or the latest under `config.out`.
        accept_failed_gan: on resume, go on with a GAN that failed (the new study's own option otherwise).
        echo: where stage headings and summaries go (the CLI prints them; library callers get log lines).

    Raises:
        UserError: bad data or options, a failed GAN, or an interruption (its message says how to resume).
    """
    if resume is not None or resume_latest:
        state = StudyState.load(find_study(resume, Path(config.out if config else "samples")))
        if "report" in state.stages:
            raise UserError(f"{state.folder}: this study is finished (see its report.md); start a new one without --resume")
        if accept_failed_gan and not state.config.accept_failed_gan:
            state.config.accept_failed_gan = True
            state.save()
        check_study_strategy(state.config.strategy)  # the machine's GPUs may differ from the ones the study began on
    else:
        # Every option and the data are checked, and the synthetic count worked out, before a folder is made.
        for size in config.minority_train or (None,):
            plan = plan_study(config, size)
        check_study_strategy(config.strategy)
        from ..classifier.backbones import check_pretrained_weights

        check_pretrained_weights(config.backbone, plan.size, config.weights)  # a failed download before the GAN, not after it
        kind = "sweep" if config.is_sweep else "study"
        state = StudyState(new_run_dir(Path(config.out), f"{kind}-{config.data_name}"), config)
        state.save()
    try:
        if state.config.is_sweep:
            _run_sweep(state, echo)
        else:
            _run_stages(state, echo)
    except (KeyboardInterrupt, ImportError) as error:
        # Ctrl-C while a C extension initialises (a stage's lazy import of SciPy, say) surfaces as an ImportError
        # caused by the KeyboardInterrupt: an interruption as well.
        if not isinstance(error, KeyboardInterrupt) and not isinstance(error.__cause__ or error.__context__, KeyboardInterrupt):
            raise
        raise UserError(f"interrupted; resume with `xgan run --resume --study {state.folder}`") from None
    except UserError as error:
        if "xgan run --resume" not in str(error):
            raise UserError(f"{error} (the study resumes with `xgan run --resume --study {state.folder}`)") from None
        raise
    return state.folder


def check_study_strategy(strategy: str) -> None:
    """Refuse a strategy whose replicas cannot share the study's batches equally, before anything trains.

    `xgan run` has no --batch-size: the GAN and the classifier train at their default global batch sizes,
    which each replica of the strategy must get an equal share of.

    Raises:
        UserError: a batch size that is not a multiple of the strategy's replicas.
    """
    if strategy == "default":  # one replica: nothing to share, and TensorFlow need not start here
        return
    from ..classifier.classify import ClassifyConfig
    from ..runtime.distribute import make_strategy
    from ..gan.config import GanConfig

    replicas = make_strategy(strategy).num_replicas_in_sync
    batches = {"GAN": GanConfig.batch_size, "classifier": ClassifyConfig.batch_size}
    if any(size % replicas for size in batches.values()):
        raise UserError(f"--strategy {strategy}: the study's global batch sizes ({', '.join(f'{n} {b}' for n, b in batches.items())}) "
                        f"must be multiples of its {replicas} replicas; make a number of GPUs that divides both visible "
                        "(CUDA_VISIBLE_DEVICES), or run `xgan train` and `xgan classify` with --batch-size")


def run_study_in_worker(folder: str) -> list[str]:
    """In a worker process: run (or finish) the study in `folder`, its stages one after another; the lines it echoed."""
    lines = []
    _run_stages(StudyState.load(Path(folder)), lines.append)
    return lines


def _run_stages(state: StudyState, echo: Callable[[str], None]) -> None:
    stages = [stage for stage in STAGES if stage.enabled(state.config)]
    start = time.perf_counter()
    together = set()  # the stages just run side by side
    for number, stage in enumerate(stages, start=1):
        title = stage.heading(state.config)
        if stage.name in together:
            continue
        if state.done(stage.name):
            echo(f"[{number}/{len(stages)}] {title}: done earlier, kept")
            continue
        if stage.name in OVERLAPPED:
            workers, threads = side_by_side_workers(state)
            if workers > 1:
                numbered = [(n, s) for n, s in enumerate(stages, start=1) if s.name in OVERLAPPED and not state.done(s.name)]
                echo(f"[{numbered[0][0]}-{numbered[-1][0]}/{len(stages)}] side by side in {workers} worker processes of {threads} "
                     f"thread(s): " + "; ".join(s.heading(state.config) for _, s in numbered))
                together = {s.name for _, s in numbered}
                stage_start = time.perf_counter()
                run_side_by_side(state, echo, tuple(s.name for s in stages))
                state.stages["classify"]["seconds"] = round(time.perf_counter() - stage_start, 1)
                state.save()
                continue
        echo(f"[{number}/{len(stages)}] {title}")
        stage_start = time.perf_counter()
        stage.function(state, echo)
        state.stages[stage.name]["seconds"] = round(time.perf_counter() - stage_start, 1)
        state.save()
    log.info("study finished in %.0f s", time.perf_counter() - start)


def _run_sweep(state: StudyState, echo: Callable[[str], None]) -> None:
    """One study per minority size, each in its own folder under the sweep's, then the figure across them.

    With more than one worker (`--workers`), the studies run side by side, one per worker process, the largest minority
    first (the longest GAN); each study runs its stages and models one after another on its worker's threads (a worker
    starts no workers of its own), so its numbers are those of a study run alone with that thread count.
    """
    from .sweep import write_sweep_report

    studies = state.stages.setdefault("studies", {})
    pending = []
    for number, size in enumerate(state.config.minority_train, start=1):
        key = str(size)
        heading = f"== minority size {size} ({number} of {len(state.config.minority_train)}) =="
        folder = Path(studies[key]) if key in studies else None
        if folder is not None and (folder / STUDY_FILE).is_file():
            study = StudyState.load(folder)
            if "report" in study.stages:
                echo(heading)
                echo(f"done earlier, kept: {folder}")
                continue
            study.config.accept_failed_gan = state.config.accept_failed_gan
        else:
            config = dataclasses.replace(state.config, minority_train=(size,), out=str(state.folder / "studies"))
            study = StudyState(new_run_dir(state.folder / "studies", f"study-{config.data_name}-minority{size}"), config)
            studies[key] = str(study.folder)
            state.save()
        study.save()
        pending.append((heading, size, study))
    workers, threads = plan_workers(state.config.workers if state.config.strategy == "default" else 1, len(pending))
    if workers > 1:
        echo(f"{len(pending)} studies side by side in {workers} worker processes of {threads} thread(s)")
        jobs = [Job(size, run_study_in_worker, (str(study.folder),), description=f"the study of minority size {size}")
                for _, size, study in sorted(pending, key=lambda item: -item[1])]
        headings = {size: heading for heading, size, _ in pending}
        run_jobs(jobs, workers, threads, on_result=lambda job, lines: [echo(line) for line in (headings[job.key], *lines)])
    else:
        for heading, _, study in pending:
            echo(heading)
            _run_stages(study, echo)
    path = write_sweep_report(state.folder, state.config, {int(k): Path(v) for k, v in studies.items()})
    state.finish("report", file=str(path), studies=studies)
    echo(f"sweep report: {path}")
