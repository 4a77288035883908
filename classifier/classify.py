"""`xgan classify`: train the CNN on one training set, or compare every arm over several seeds.

The command's parts, each in its own module: `classify_config.ClassifyConfig` (the options and their
checks), `experiment.prepare_experiment` (the dataset at the classifier's size with its saved splits),
`arms` (one record per arm and the builder of its training set), `arm_run.run_arm` (one model trained,
scored on the real test split and saved), `prediction_table` (predictions.csv). Here: `classify`, the
loop that writes one run folder (one model, a seed ensemble) or, with `compare`, the arms x seeds
comparison and its report.
"""

import importlib
import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import invalid_argument
from ..progress import progress_bar
from ..runs import new_run_dir, write_json
from ..runtime.distribute import run_parent
from ..runtime.workers import Job, WorkerPool, plan_workers
from .arm_run import TRAINING_MANIFEST, ArmRun, fine_tune_on_real, read_finished_record, run_arm, train_arm_model
from .arms import ARMS, BASELINE_ARM, registered_at_run_time, training_set
from .backbones import check_pretrained_weights, network_description
from .classify_config import ClassifyConfig
from .curate import curation_scores, read_synthetic_pool
from .experiment import Experiment, check_manifest_dataset, default_synthetic_folders, prepare_experiment
from .external import load_external_sets, score_external_sets
from .realism import synthetic_vs_real

log = logging.getLogger("xgan")

# A run of several models trains each in a worker process of its own, which ends with it, once its real training split
# holds this many pixels (images x height x width; 2**26 is about 16,000 images at 64 px, 4,100 at 128 px, 1,000 at
# 256 px). TensorFlow and Keras keep 25-40 MB of every model a process builds, even after clear_session
# (runtime/workers.py), so a process that trains one model and ends gives it all back and the run's peak memory does
# not grow with the number of arms; the model's Grad-CAM and external-set scores are computed in a fresh process too,
# and the command's own process never starts TensorFlow. A process start costs about 5 CPU seconds (TensorFlow's
# import), a few percent of a model's training at this size; below it the models share their workers (or this process).
FRESH_PROCESS_PIXELS = 2**26

# The names this module held before it was split, for callers that import them from here.
__all__ = ["ArmRun", "ClassifyConfig", "ClassifyResult", "Experiment", "TRAINING_MANIFEST", "check_manifest_dataset", "classify",
           "default_synthetic_folders", "fine_tune_on_real", "prepare_experiment", "run_arm", "training_set"]


@dataclass
class ClassifyResult:
    """What `classify` wrote and measured."""

    run_dir: Path
    experiment: Experiment
    runs: list[ArmRun]
    report: dict | None
    seconds: float
    summary: str
    upstream: dict = field(default_factory=dict)  # {key: result} of the `upstream` jobs run beside the models


# Imported before the workers fork: they inherit SciPy, scikit-learn, Matplotlib and the report's modules instead of
# importing them each (their metrics and Grad-CAM need them: about a second of each worker's start), and the report at the
# end does not wait for them either.
IMPORTED_BEFORE_WORKERS = (".compare", ".report", "matplotlib.figure", "matplotlib.backends.backend_agg")


def classify(config: ClassifyConfig, upstream: Sequence[Job] = (), synthetic_after=None, resume: Path | None = None) -> ClassifyResult:
    """Train one model, or with `config.compare` every arm over every seed, and write the run folder.

    Several models train one after another in this process, or side by side in `config.workers` worker processes; past
    FRESH_PROCESS_PIXELS each in a worker process of its own, with its report scores (Grad-CAM, external sets, shift
    suite), so that the run's memory does not grow with the number of models.

    Args:
        resume: an interrupted run folder of the same options to finish instead of a new one: its finished models are
            read back, the others continue from the end of their last epoch (`epoch_state.py`).
        upstream: other jobs to run in the same worker pool, before the models that wait for them (a study's GAN,
            its sampling and its quality measure); needs more than one worker.
        synthetic_after: the key of the upstream job that writes `config.synthetic`: the arms that need synthetic
            images build their training sets in their worker once it is done, the others train meanwhile.

    Returns:
        A ClassifyResult with the run folder, every model's scores and a printable summary.
    """
    start = time.perf_counter()
    experiment = prepare_experiment(config)
    externals = load_external_sets(config.external, experiment.class_names, config.size)  # a bad set fails before training
    found = ""
    if config.with_gan and not (config.synthetic or config.manifest):
        config.synthetic = default_synthetic_folders(config, experiment)
        found = "".join(f"\nGAN images: {folder} (the latest `xgan sample` output for this dataset and class under {config.out})"
                        for folder in config.synthetic)
    pending = synthetic_after is not None  # the synthetic folders are written while the first models train
    arms = config.arms if pending else _arms_the_inputs_allow(config, experiment)
    # Every arm's first training set is built and checked before any training: bad input fails in seconds, not minutes.
    # Only the first arm's is kept (it trains first); each other arm's is let go once checked and built again when its
    # turn comes, so a comparison holds one or two training sets at a time, not one per arm (a GAN arm's copies every
    # pixel). A curated arm's is chosen after the baseline trains; the arm it is `checked_by`, when that runs, has
    # checked the same inputs. How far each GAN arm's synthetic images are from the real images of their class, the
    # number that predicts harm, is measured on that first set (a curated arm's once its images are chosen).
    check_pretrained_weights(config.backbone, config.size, config.weights)
    prepared, realism, sizes = {}, {}, {}
    for arm in arms:
        if ARMS[arm].checked_by in arms or (pending and ARMS[arm].needs_synthetic):
            continue
        arm_set = training_set(arm, config, experiment, config.seed)
        sizes[arm] = len(arm_set[0].images)  # side by side, the longest training sets start first
        if ARMS[arm].needs_synthetic and not ARMS[arm].curated_by_baseline and config.compare:
            realism[arm] = synthetic_vs_real(arm_set[0], seed=config.seed)
        if arm == arms[0]:
            prepared[arm] = arm_set
        del arm_set
    curated = any(ARMS[arm].curated_by_baseline for arm in arms)
    curation, pool = {}, None  # seed -> the baseline's score of every synthetic image (of `pool`, read once), for curated arms
    description = "classify-compare" if config.compare else f"classify-{arms[0]}"
    # A non-chief worker of a multi-worker run trains alike in a temporary folder: the chief alone writes the run.
    with run_parent(config.out, config.strategy) as parent, ExitStack() as interrupted:
        options = {**config.to_dict(), "dataset_fingerprint": experiment.dataset.fingerprint, "splits_file": str(experiment.splits.path),
                   "positive_class": experiment.positive, "arms": arms, "seeds": config.seed_list}
        if resume is not None:
            run_dir = Path(resume)
            check_resumable(run_dir, options)
            log.info("resuming %s: finished models are read back, the others continue from their last epoch", run_dir)
        else:
            run_dir = new_run_dir(parent, description)
        write_json(run_dir / "options.json", options)
        if config.strategy == "default":  # a non-chief worker's folder is a temporary one
            interrupted.enter_context(_naming_the_run_on_interrupt(run_dir))
        runs = []
        num_models = len(arms) * len(config.seed_list)
        workers, threads = plan_workers(config.workers if config.strategy == "default" else 1, num_models)
        pixels = _training_pixels(experiment)
        fresh = config.strategy == "default" and num_models > 1 and pixels >= FRESH_PROCESS_PIXELS
        run_time_arms = registered_at_run_time(arms)
        if (workers > 1 or fresh) and run_time_arms and not upstream:
            # A worker process imports xgan afresh: it would not know an arm registered in this one.
            log.info("arm(s) %s registered at run time: every model trains in this process", ", ".join(run_time_arms))
            workers, fresh = 1, False
        upstream_results, shift_scores, explained = {}, {}, {}
        if upstream and workers == 1:
            raise invalid_argument("upstream", "more than one worker to run them beside the models", received="workers=1", error=ValueError)
        if fresh:
            log.info("%s training pixels: each model trains in a process of its own, which gives back TensorFlow's memory when "
                     "it ends", f"{pixels:,}")
        if workers > 1 or fresh:
            for module in IMPORTED_BEFORE_WORKERS:
                importlib.import_module(module, __package__)
            runs, upstream_results = _train_side_by_side(config, experiment, arms, run_dir, prepared, sizes, realism, shift_scores,
                                                         workers, threads, upstream, synthetic_after, fresh, explained)
        else:
            with progress_bar(len(arms) * len(config.seed_list), "classifier", "model") as bar:
                for arm in arms:
                    for seed in config.seed_list:
                        bar.set_description(f"classifier {arm} seed {seed}")
                        if config.compare:
                            folder = run_dir / "arms" / arm / f"seed{seed}"
                        else:
                            folder = run_dir / f"seed{seed}" if len(config.seed_list) > 1 else run_dir
                        if ARMS[arm].curated_by_baseline:
                            prepared[arm] = training_set(arm, config, experiment, seed, curation[seed])
                            if seed == config.seed:
                                realism[arm] = synthetic_vs_real(prepared[arm][0], seed=config.seed)
                        finished = read_finished_record(folder) if resume is not None else None
                        if finished:
                            prepared.pop(arm, None)
                        # Handed over, not kept here (the first seed's, built up front): run_arm lets the pixels go
                        # once the model has trained on them.
                        runs.append(finished[0] if finished else run_arm(arm, seed, config, experiment, folder, prepared.pop(arm, None)))
                        if arm == BASELINE_ARM and curated:
                            pool = pool or read_synthetic_pool(config.synthetic, config.size)
                            curation[seed] = _baseline_scores(folder, pool, experiment)
                        bar.set_postfix({"balanced_acc": f"{runs[-1].metrics['balanced_accuracy']:.3f}"}, refresh=False)
                        bar.update(1)
        from .compare import compare_arms, seed_ensemble  # after training in one process: SciPy and scikit-learn are slow to import
        from .report import write_compare_report, write_ensemble_report, write_single_report

        plan, prepared_external, external_scores = None, None, {}
        if fresh and (config.compare or externals):
            plan, prepared_external, explained, external_scores = _report_scores_side_by_side(config, experiment, runs, externals,
                                                                                               workers, threads)

        if config.compare:
            report = compare_arms(runs, experiment, config.seed, target_sensitivity=config.target_sensitivity)
            report["seconds"], report["tta"] = time.perf_counter() - start, config.tta
            report["network"] = network_description(config.backbone, config.weights, config.freeze_epochs, config.size)
            for arm, measured in realism.items():
                report["arms"][arm]["synthetic_vs_real"] = measured
            for arm in arms:
                report["arms"][arm]["description"] = ARMS[arm].description
            synthetic = any(ARMS[arm].needs_synthetic for arm in arms)
            report["synthetic_folders"] = [str(folder) for folder in config.synthetic] if synthetic else []
            report["external"] = score_external_sets(externals, runs, experiment, True, config.tta, config.seed, config.target_sensitivity,
                                                     external_scores, prepared_external)
            from .explain import explain_comparison

            report["gradcam"] = explain_comparison(runs, experiment, run_dir, config.seed, explained=explained, plan=plan)
            if config.shift_suite:
                from .shift import score_shift_suite

                report["shift_suite"] = score_shift_suite(runs, experiment, config.tta, config.seed, config.target_sensitivity,
                                                          scores=shift_scores)
            summary = write_compare_report(run_dir, report, runs, experiment)
        elif len(runs) > 1:
            report = seed_ensemble(runs, experiment, config.target_sensitivity)
            report["seconds"], report["tta"] = time.perf_counter() - start, config.tta
            report["external"] = score_external_sets(externals, runs, experiment, False, config.tta, config.seed, config.target_sensitivity,
                                                     external_scores, prepared_external)
            summary = write_ensemble_report(run_dir, report, runs, experiment)
        else:
            report = None
            summary = write_single_report(run_dir, runs[0], experiment)
        seconds = time.perf_counter() - start
        return ClassifyResult(run_dir, experiment, runs, report, seconds, f"{summary}{found}\nrun folder {run_dir} ({seconds:.0f} s)",
                              upstream_results)


@contextmanager
def _naming_the_run_on_interrupt(run_dir: Path) -> Iterator[None]:
    """Ctrl-C while the run's models train: the KeyboardInterrupt carries the run folder (`run_folder`), so the
    command can name its resumption; a study that runs classify catches it as before and names its own."""
    try:
        yield
    except KeyboardInterrupt as interrupt:
        interrupt.run_folder = run_dir
        raise


# Options that may differ between a run and its resumption: how many processes train, where the run folder's parent is.
RESUME_MAY_DIFFER = ("workers", "out")


def check_resumable(run_dir: Path, options: dict) -> None:
    """Refuse to resume `run_dir` with other `options` than it was made with, or a run that finished.

    Raises:
        UserError: naming the folder and the first option that differs.
    """
    from ..errors import UserError
    from ..runs import read_json

    if not (run_dir / "options.json").is_file():
        raise UserError(f"--resume {run_dir}: not a classify run folder (no options.json)")
    if (run_dir / "report.json").is_file():
        raise UserError(f"--resume {run_dir}: this run finished; start a new one without --resume")
    saved = read_json(run_dir / "options.json")
    for key, value in options.items():
        if key not in RESUME_MAY_DIFFER and saved.get(key) != value:
            raise UserError(f"--resume {run_dir}: the run was made with {key} {saved.get(key)!r}, not {value!r}; "
                            "pass the options it was made with (only --workers may change)")


def _arms_the_inputs_allow(config: ClassifyConfig, experiment: Experiment) -> list[str]:
    """`config.arms`, less the arms that give every class synthetic images, not asked for by name, when the synthetic
    folders lack a class."""
    arms = config.arms
    dropped = [arm for arm in arms if ARMS[arm].every_class_synthetic and arm not in config.arm_names]
    if not dropped or not config.synthetic:
        return arms
    from ..balance import read_synthetic_folder

    labels = {label for folder in config.synthetic for label in read_synthetic_folder(folder).labels}
    if set(experiment.class_names) - labels:
        log.warning("arm(s) %s left out: they need synthetic images of every class, the folders hold %s only "
                    "(train one GAN per class or `xgan train --conditional`)", ", ".join(dropped), ", ".join(sorted(labels)))
        return [arm for arm in arms if arm not in dropped]
    return arms


def _baseline_scores(model_dir: Path, pool, experiment: Experiment) -> dict:
    """What the baseline model saved in `model_dir` scores every image of the synthetic `pool` (gan_curated's choice)."""
    import keras

    from .saving import load_classifier

    scores = curation_scores(load_classifier(model_dir), pool, experiment.class_names, experiment.positive)
    keras.backend.clear_session()
    return scores


def _model_folder(config: ClassifyConfig, run_dir: Path, arm: str, seed: int) -> Path:
    """Where one model of `arm` and `seed` is saved: arms/<arm>/seed<k>/ in a comparison, seed<k>/ in an ensemble."""
    if config.compare:
        return run_dir / "arms" / arm / f"seed{seed}"
    return run_dir / f"seed{seed}" if len(config.seed_list) > 1 else run_dir


def _training_pixels(experiment: Experiment) -> int:
    """Pixels of the real training split (images x height x width), what FRESH_PROCESS_PIXELS is compared with."""
    return math.prod(experiment.train.images.shape[:3])


def _train_side_by_side(config: ClassifyConfig, experiment: Experiment, arms: list[str], run_dir: Path, prepared: dict,
                        sizes: dict, realism: dict, shift_scores: dict, workers: int, threads: int, upstream: Sequence[Job] = (),
                        synthetic_after=None, fresh: bool = False, explained: dict | None = None) -> tuple[list[ArmRun], dict]:
    """Every arm x seed model trained in `workers` processes of `threads` threads; the runs in the loop's order, and
    the results of the `upstream` jobs (see `classify`). `fresh`: each job in a process of its own (FRESH_PROCESS_PIXELS).

    The same folders and files as one after another; a curated arm's model of a seed starts once the baseline of that
    seed is saved (it scores the synthetic pool with it). The upstream jobs come first and the models that wait for
    them next, so that they start as soon as their inputs exist; then the longest training sets, so that the last
    models to finish are short ones. Fills `realism` as the loop does, `shift_scores` with each model's scores on
    the shift suite (computed in its worker) and, in a comparison whose models share their workers (not `fresh`),
    `explained` with each model's Grad-CAM record (`explain.explain_model`; an arm's first seed with its maps on the
    report's films, in a job of its own after every model has started: a few seconds each, they fill the core that the
    last models leave idle), so that this process never loads a model.
    """
    order = [(arm, seed) for arm in arms for seed in config.seed_list]
    sizes = {arm: sizes.get(arm, 0) for arm in arms}
    waits = {arm: synthetic_after is not None and ARMS[arm].needs_synthetic for arm in arms}
    explain = config.compare and not fresh and explained is not None
    jobs = list(upstream)
    for arm, seed in sorted(order, key=lambda model: (not waits[model[0]], ARMS[model[0]].curated_by_baseline, -sizes[model[0]])):
        curated = ARMS[arm].curated_by_baseline
        baseline = str(_model_folder(config, run_dir, BASELINE_ARM, seed)) if curated else None
        arm_set = prepared.get(arm) if seed == config.seed and not curated else None
        after = ((BASELINE_ARM, seed),) if curated else ()
        jobs.append(Job((arm, seed), train_one_model,
                        (arm, seed, str(_model_folder(config, run_dir, arm, seed)), arm_set, baseline, waits[arm] and config.compare, explain),
                        after=after + ((synthetic_after,) if waits[arm] else ()), description=f"{arm} seed {seed}"))
    if explain:  # last in the list: short jobs that keep a core busy while the last models train, instead of idle
        from .explain import reference_arm

        reference = (reference_arm(arms), config.seed)
        for arm in arms:
            first = (arm, config.seed)
            jobs.append(Job(("films", arm), film_maps, (str(_model_folder(config, run_dir, *first)), str(_model_folder(config, run_dir, *reference))),
                            after=tuple(dict.fromkeys((first, reference))), description=f"Grad-CAM of {arm} on the films"))
    pool = WorkerPool(workers, threads, _start_model_worker, jobs_per_worker=1 if fresh else None)
    # A forked worker shares this process's data as it is; a spawned one (TensorFlow already runs here) loads it again.
    pool.initargs = (config, experiment if pool.start_method == "fork" else None)
    log.info("training %d models side by side: %d worker process(es) of %d thread(s)%s", len(order), workers, threads,
             ", a fresh process for each" if fresh else "")
    with pool, progress_bar(len(jobs), f"classifier ({workers} worker{'s' if workers > 1 else ''})", "job" if len(jobs) > len(order) else "model") as bar:
        def finished(job: Job, result) -> None:
            if job.key in order:
                bar.set_postfix({"last": job.description, "balanced_acc": f"{result[0].metrics['balanced_accuracy']:.3f}"}, refresh=False)
            bar.update(1)

        results = pool.run(jobs, finished)
    for model in order:
        if results[model][1] is not None:
            realism[model[0]] = results[model][1]
        if results[model][2] is not None:
            shift_scores[model] = results[model][2]
        if explain:
            explained[model] = {**results[model][3], "films": results[("films", model[0])] if model[1] == config.seed else None}
    return [results[model][0] for model in order], {job.key: results[job.key] for job in upstream}


def _report_scores_side_by_side(config: ClassifyConfig, experiment: Experiment, runs: list[ArmRun], externals: list,
                                workers: int, threads: int) -> tuple:
    """What the report needs of each saved model (its Grad-CAM record, its scores on the external sets), computed in a
    fresh worker process per model, so that this process never loads one; (plan, prepared external sets, {(arm, seed):
    Grad-CAM record}, {(arm, seed): external scores})."""
    from .explain import gradcam_plan
    from .external import unseen_external_images

    plan = gradcam_plan(runs, experiment, config.seed) if config.compare else None
    prepared = unseen_external_images(externals, runs) if externals else []
    first_seed = {}
    for run in runs:
        first_seed[run.arm] = min(first_seed.get(run.arm, run.seed), run.seed)
    jobs = [Job((run.arm, run.seed), report_scores, (str(run.run_dir), run.threshold, run.seed == first_seed[run.arm]),
                description=f"report scores of {run.arm} seed {run.seed}") for run in runs]
    pool = WorkerPool(min(workers, len(jobs)), threads, _start_model_worker, jobs_per_worker=1)
    pool.initargs = (config, experiment if pool.start_method == "fork" else None, {"plan": plan, "external": prepared})
    with pool, progress_bar(len(jobs), "report (Grad-CAM, external sets)", "model") as bar:
        results = pool.run(jobs, lambda job, result: bar.update(1))
    explained = {key: result[0] for key, result in results.items() if result[0] is not None}
    external = {key: result[1] for key, result in results.items() if result[1] is not None}
    return plan, prepared, explained, external


def report_scores(model_dir: str, threshold: float | None, with_films: bool):
    """In a worker process: one saved model's Grad-CAM record on the report's images (with the films' maps for an arm's
    first seed) and its scores on the external sets; (record or None, scores or None)."""
    from .explain import explain_model
    from .external import external_scores

    plan, prepared = _WORKER_DATA["report"]["plan"], _WORKER_DATA["report"]["external"]
    config = _WORKER_DATA["config"]
    explained = explain_model(model_dir, threshold, plan.images, plan.film_images if with_films else None) if plan is not None else None
    return explained, external_scores(model_dir, prepared, config.tta) if prepared else None


_WORKER_DATA: dict = {}  # in a worker process: the command's options and experiment, set once when it starts


def _start_model_worker(config: ClassifyConfig, experiment: Experiment | None, report: dict | None = None) -> None:
    _WORKER_DATA["config"] = config
    _WORKER_DATA["experiment"] = experiment if experiment is not None else prepare_experiment(config)
    _WORKER_DATA["report"] = report


def train_one_model(arm: str, seed: int, folder: str, arm_set, baseline_folder: str | None, measure_realism: bool = False,
                    explain: bool = False):
    """In a worker process: train, score and save one model as the loop of `classify` does; (ArmRun, realism or None, its
    shift-suite scores or None, with `explain` its Grad-CAM record without films or None).

    A curated arm first scores the synthetic pool with the baseline model of its seed, saved in `baseline_folder`.
    `measure_realism`: build the training set here and measure its synthetic images against the real ones (the
    first seed of a GAN arm whose synthetic images were written while other models trained).
    """
    config, experiment = _WORKER_DATA["config"], _WORKER_DATA["experiment"]
    finished = read_finished_record(folder)  # a resumed run's model that finished before the interruption
    if finished is not None:
        run, measured = finished
        return run, measured, *_report_scores(config, experiment, run, explain)
    measured = None
    if ARMS[arm].curated_by_baseline:
        if "pool" not in _WORKER_DATA:
            _WORKER_DATA["pool"] = read_synthetic_pool(config.synthetic, config.size)
        arm_set = training_set(arm, config, experiment, seed, _baseline_scores(Path(baseline_folder), _WORKER_DATA["pool"], experiment))
        measure_realism = True
    elif measure_realism and arm_set is None:
        arm_set = training_set(arm, config, experiment, seed)
    if measure_realism and seed == config.seed:
        measured = synthetic_vs_real(arm_set[0], seed=config.seed)
    run, model = train_arm_model(arm, seed, config, experiment, Path(folder), arm_set, measured)
    return run, measured, *_report_scores(config, experiment, run, explain, model)


def _report_scores(config: ClassifyConfig, experiment: Experiment, run: ArmRun, explain: bool, model=None) -> tuple:
    """In a worker: what the report needs of the model just saved, so that the parent's report need not load every
    model again: (the shift suite's probabilities (the copies made once per worker when they fit
    shift.KEEP_COPIES_BYTES, else one at a time) or None, with `explain` its Grad-CAM record without films or None).

    `model`: the trained model itself, whose weights were just saved (not loaded again, nor its inference traced
    again); None loads it from `run.run_dir` (a model that finished before a resume)."""
    suite = config.compare and config.shift_suite
    if not suite and not explain:
        return None, None
    import keras
    import numpy as np

    from .explain import explain_loaded, scored_test_indices
    from .saving import load_classifier
    from .shift import keep_copies, shift_scores

    scores, record = None, None
    if model is None:
        model = load_classifier(run.run_dir)
    images = np.asarray(experiment.test.images)
    if suite:
        if "shift_copies" not in _WORKER_DATA:
            _WORKER_DATA["shift_copies"] = keep_copies(images, config.seed)
        scores = shift_scores(model, images, config.seed, config.tta, _WORKER_DATA["shift_copies"])
    if explain:
        record = explain_loaded(model, run.threshold, images[scored_test_indices(len(images), config.seed)], None)
    keras.backend.clear_session()
    return scores, record


def film_maps(folder: str, reference_folder: str):
    """In a worker: the Grad-CAM maps, calls and scores (`explain.gradcam`) of the model saved in `folder` on the report's
    films, which the calls of the reference model saved in `reference_folder` choose (`explain.gradcam_plan`); None
    when there is no film."""
    import keras

    from .explain import film_images, gradcam, reference_films
    from .saving import load_classifier

    config, experiment = _WORKER_DATA["config"], _WORKER_DATA["experiment"]
    films = reference_films(read_finished_record(Path(reference_folder))[0], experiment, config.seed)
    if not films:
        return None
    run = read_finished_record(Path(folder))[0]
    maps = gradcam(load_classifier(folder), film_images(experiment, films), run.threshold)
    keras.backend.clear_session()
    return maps
