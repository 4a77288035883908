"""The six stages of a study, each one `Stage` record: its name (its key in study.json), its title and its function.

A stage function takes the study's state and an `echo` for its summary lines, does its work and records
what it produced with `state.finish(name, ...)`; `runner.run_study` runs the stages in the order of
`STAGES`, skipping those done earlier.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..datasets.dataset import resolve_source
from ..datasets.splits import cut_splits
from ..datasets.summary import format_summary
from ..errors import UserError
from ..runs import latest_gan_run, read_gan_config, write_text
from .config import CURATION_POOL, PRESETS, StudyConfig
from .plan import plan_study
from .state import StudyState

log = logging.getLogger("xgan")


@dataclass(frozen=True)
class Stage:
    """One stage of the study."""

    name: str  # its key in study.json
    title: str  # the heading `xgan run` prints
    function: Callable[[StudyState, Callable[[str], None]], None]  # (state, echo): does the stage and calls state.finish(name, ...)
    conditional_title: str | None = None  # the heading with --conditional, when it differs
    enabled: Callable[[StudyConfig], bool] = lambda config: True  # whether a study with these options runs it

    def heading(self, config: StudyConfig) -> str:
        """The title of this stage in a study with these options."""
        return self.conditional_title if config.conditional and self.conditional_title else self.title


def _stage_data(state: StudyState, echo) -> None:
    config = state.config
    size = config.minority_train[0] if config.minority_train else None
    plan = plan_study(config, size)
    splits = plan.base_splits
    if plan.cut is not None:
        splits = cut_splits(plan.dataset, plan.base_splits, size, plan.cut["class"], config.seed, state.folder / "splits.json")
    summary = format_summary(plan.dataset, splits)
    summary += (f"\nbalancing {plan.class_name}: {plan.train_counts[plan.class_name]} -> {plan.target[plan.class_name]} training images "
                f"(ratio {config.ratio}); the GAN is sampled for {plan.num_synthetic} images, {plan.num_needed} of them needed")
    if config.conditional:
        summary += (f"\n--conditional: one GAN learns every class, and is drawn for every class {CURATION_POOL} times what the "
                    "equal-share arms use (gan_curated keeps the better half)")
    write_text(state.folder / "data_summary.txt", summary + "\n")
    echo(summary)
    state.finish("data", splits=str(splits.path), fingerprint=plan.dataset.fingerprint, class_counts=plan.dataset.class_counts(),
                 train_counts=plan.train_counts, minority=plan.class_name, class_name=plan.class_name, target=plan.target,
                 num_needed=plan.num_needed, num_synthetic=plan.num_synthetic, size=plan.size, cut=splits.cut,
                 gan_classes=plan.gan_classes,
                 data=str(resolve_source(config.data)))


def _stage_gan(state: StudyState, echo) -> None:
    if state.config.conditional:  # one run for every class: the later stages draw each class from it
        run = str(_train_gan(state, None, state.folder / "gan"))
        state.finish("gan", run=run, runs={name: run for name in state.stages["data"]["train_counts"]})
        return
    classes = gan_classes(state)
    runs = {}
    for class_name in classes:
        # One GAN: its runs straight under gan/, as always; several (three or more classes): gan/<class>/ each.
        parent = state.folder / "gan" if len(classes) == 1 else state.folder / "gan" / class_name
        runs[class_name] = str(_train_gan(state, class_name, parent))
    state.finish("gan", run=runs[classes[0]], runs=runs)


def gan_classes(state: StudyState) -> list[str]:
    """The classes the study trains a GAN for (one, unless three or more classes need images)."""
    data = state.stages["data"]
    return list(data.get("gan_classes") or [data["class_name"]])


def _runs(state: StudyState, stage: str, key: str) -> dict[str, str]:
    """{class: folder} a stage produced, from its per-class `key` or, in an older study.json, its one folder."""
    details = state.stages[stage]
    return dict(details.get(key) or {gan_classes(state)[0]: details["run" if stage == "gan" else "folder"]})


def _train_gan(state: StudyState, class_name: str, parent: Path) -> Path:
    from ..gan import GanConfig, TrainingStopped, resume_gan, train_gan
    from ..gan.config import GAN_VARIANTS
    from ..gan.run_state import STATE_FILE, read_training_state_meta

    config, data = state.config, state.stages["data"]
    existing = latest_gan_run(parent)
    try:
        if existing is not None and (existing / STATE_FILE).is_file():
            done = int(read_training_state_meta(existing)["epoch"])
            target = int(read_gan_config(existing).get("num_epochs", config.gan_epochs))
            if done >= min(target, config.gan_epochs):  # finished (perhaps by `xgan train --resume` outside the study)
                log.info("%s: already trained %d epochs, kept", existing, done)
                run_dir = existing
            else:
                run_dir = resume_gan(existing, strategy=config.strategy, callbacks=_gan_callbacks(config))
        else:
            if existing is not None:  # a run killed before its first checkpoint: start again beside it
                log.warning("%s: no checkpoint yet, starting a new GAN run", existing)
            # The preset's width is the DCGAN's; a variant of another family brings its own.
            variant = {"width": PRESETS[config.preset]["gan_width"]} | GAN_VARIANTS[getattr(config, "gan_variant", "dcgan")]
            gan_config = GanConfig(data=data["data"], class_name=None if config.conditional else class_name,
                                   conditional=config.conditional, splits=data["splits"],
                                   image_size=data["size"], epochs=config.gan_epochs,
                                   kimg=conditional_kimg(state) if config.conditional else None,
                                   out=str(parent), tensorboard=config.tensorboard, seed=config.seed, strategy=config.strategy,
                                   precision=config.precision, **variant)
            run_dir = train_gan(gan_config, callbacks=_gan_callbacks(config))
    except TrainingStopped as stopped:
        if stopped.signal_number is None:  # diverged: the study goes on only if the user accepts the failed GAN
            state.finish("gan", run=str(stopped.run_dir), diverged=True)
            raise UserError(f"the GAN stopped: {stopped}") from None
        raise UserError(f"the GAN stopped after epoch {stopped.epoch} with a checkpoint; resume with "
                        f"`xgan run --resume --study {state.folder}`") from None
    return run_dir


def conditional_kimg(state: StudyState) -> float:
    """The conditional GAN's length: as many steps as the one-class GAN's epochs on the minority's images.

    An epoch of the conditional GAN passes over every class's images (~90 steps for the default study's
    ~2,900 training images against 3 for its 120 normal ones), so `gan_epochs` epochs of it would be a
    30-fold longer training; the same step count keeps the two GANs' budgets, and the study's time, equal.
    """
    from ..gan.config import GanConfig
    from ..gan.train import steps_per_epoch

    data = state.stages["data"]
    batch_size = GanConfig.batch_size
    return state.config.gan_epochs * steps_per_epoch(data["train_counts"][data["class_name"]], batch_size) * batch_size / 1000


def _gan_callbacks(config: StudyConfig) -> list:
    from ..quality.monitor import KidMonitor

    every = max(config.gan_epochs // 10, 1)
    return [KidMonitor(every=every, seed=config.seed)]


def _check_gan_health(state: StudyState) -> None:
    """Refuse to sample from a GAN that diverged or collapsed, unless the user accepted it."""
    from ..gan import training_problems

    runs = _runs(state, "gan", "runs")
    run = ", ".join(runs.values())
    problems = [problem if len(runs) == 1 else f"{name}: {problem}" for name, one in runs.items() for problem in training_problems(one)]
    if state.stages["gan"].get("diverged") and not problems:
        problems = ["training diverged (NaN or infinite loss)"]
    state.stages["gan"]["problems"] = problems
    state.save()
    if problems and not state.config.accept_failed_gan:
        raise UserError(f"the GAN in {run} failed: {'; '.join(problems)}. The study stops before sampling from it: look at its "
                        f"previews and losses.png, then start a new study with other GAN options, or go on anyway with "
                        f"`xgan run --resume --accept-failed-gan --study {state.folder}`")
    for problem in problems:
        log.warning("going on with a failed GAN (--accept-failed-gan): %s", problem)


def _stage_sample(state: StudyState, echo) -> None:
    from ..gan import sample_to_folder

    _check_gan_health(state)
    runs = _runs(state, "gan", "runs")
    num_images = state.stages["data"]["num_synthetic"]
    counts = _conditional_counts(state, num_images) if state.config.conditional else {}
    folders = {}
    for class_name, run in runs.items():
        out = state.folder / "synthetic" if len(runs) == 1 else state.folder / "synthetic" / class_name
        # A sample stage that did not finish left a partial folder: replacing it is safe, nothing else wrote there.
        count = counts.get(class_name, num_images)
        folders[class_name] = str(sample_to_folder(run, count, out, seed=state.config.seed, overwrite=True,
                                                   class_name=class_name if state.config.conditional else None))
    state.finish("sample", folder=folders[state.stages["data"]["class_name"]] if state.config.conditional else next(iter(folders.values())),
                 folders=folders, num_images=num_images, num_images_per_class=counts or None)


def _conditional_counts(state: StudyState, num_minority: int) -> dict[str, int]:
    """Images to draw per class from a conditional GAN: the minority's as for the one-class GAN, and for every class
    `CURATION_POOL` times as many as the equal-share arms need, so gan_curated chooses among twice what it keeps."""
    from ..balance import DEFAULT_EQUAL_SHARE, resolve_mix

    data = state.stages["data"]
    equal = resolve_mix(data["train_counts"], state.config.ratio, "equal", DEFAULT_EQUAL_SHARE)
    return {name: max(CURATION_POOL * parts["synthetic"], num_minority if name == data["class_name"] else 0, 1)
            for name, parts in equal.items()}


def _stage_quality(state: StudyState, echo) -> None:
    from ..quality import QualityConfig, run_quality

    preset = PRESETS[state.config.preset]
    runs, synthetic = _runs(state, "gan", "runs"), _runs(state, "sample", "folders")
    folders, warnings = {}, []
    for class_name, run in runs.items():
        out = state.folder / "quality" if len(runs) == 1 else state.folder / "quality" / class_name
        outcome = run_quality(QualityConfig(run=run, synthetic=synthetic[class_name], num_images=preset["quality_images"],
                                            out=str(out), overwrite=True, seed=state.config.seed))
        for line in outcome.summary:
            echo(line)
        for warning in outcome.warnings:
            log.warning("%s", warning)
        folders[class_name] = str(outcome.out_dir)
        warnings += [warning if len(runs) == 1 else f"{class_name}: {warning}" for warning in outcome.warnings]
    state.finish("quality", folder=next(iter(folders.values())), folders=folders, warnings=warnings)


def _stage_classify(state: StudyState, echo) -> None:
    from ..classifier.classify import classify

    result = classify(study_classify_config(state), resume=unfinished_classify_run(state))
    echo(result.summary)
    state.finish("classify", folder=str(result.run_dir), seconds=round(result.seconds, 1))


def unfinished_classify_run(state: StudyState) -> Path | None:
    """The classify run an interrupted study began (its finished models are kept on resume), or None."""
    from ..runs import latest_run_dir

    return None if state.done("classify") else latest_run_dir(state.folder / "classify", "options.json")


def study_classify_config(state: StudyState, synthetic: tuple[Path, ...] | None = None):
    """The ClassifyConfig of the classify stage; `synthetic`: its folders when sampling has not written them yet."""
    from ..classifier.arms import study_arm_names
    from ..classifier.classify import ClassifyConfig

    config, data = state.config, state.stages["data"]
    preset = PRESETS[config.preset]
    if synthetic is None:
        synthetic = tuple(Path(folder) for folder in _runs(state, "sample", "folders").values())
    return ClassifyConfig(
        data=Path(data["data"]), splits=Path(data["splits"]), synthetic=synthetic,
        # The one-class GAN's study keeps its arms marked `in_study` (the quick preset's time); --conditional adds every GAN variant.
        arm_names=() if config.conditional else study_arm_names(),
        ratio=config.ratio, compare=True, seeds=config.seeds, size=data["size"], epochs=config.classifier_epochs,
        # two classes: the GAN's class is the positive one; three or more: a softmax, no positive class
        patience=preset["patience"], positive=data["class_name"] if len(data["class_counts"]) == 2 else None,
        out=state.folder / "classify", seed=config.seed,
        tensorboard=config.tensorboard, strategy=config.strategy, precision=config.precision, external=config.external,
        backbone=config.backbone, weights=config.weights, freeze_epochs=config.freeze_epochs, workers=config.workers)


def run_stages_in_worker(folder: str, names: tuple[str, ...]) -> list[str]:
    """In a worker process: run the stages `names` of the study in `folder` not yet done, as `xgan run` does one after
    another (each records itself and its seconds in study.json); the lines they echoed."""
    import time

    state, lines = StudyState.load(Path(folder)), []
    for stage in STAGES:
        if stage.name not in names or state.done(stage.name):
            continue
        start = time.perf_counter()
        stage.function(state, lines.append)
        state.stages[stage.name]["seconds"] = round(time.perf_counter() - start, 1)
        state.save()
    return lines


def _stage_report(state: StudyState, echo) -> None:
    from .report import write_study_report

    path = write_study_report(state.folder, state.config, state.stages)
    state.finish("report", file=str(path))
    echo(f"report: {path}")


STAGES = (
    Stage("data", "data and splits", _stage_data),
    Stage("gan", "training the GAN on the minority training images", _stage_gan,
          conditional_title="training one class-conditional GAN on every class's training images"),
    Stage("sample", "sampling synthetic images", _stage_sample),
    Stage("quality", "measuring synthetic image quality and memorization", _stage_quality, enabled=lambda config: config.quality),
    Stage("classify", "training and comparing the classifier arms", _stage_classify),
    Stage("report", "writing the report", _stage_report),
)
