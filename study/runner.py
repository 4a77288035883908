"""The whole study in one call: split, GAN, sample, quality, every classifier arm, one report.

`run_study` keeps a `study.json` in its folder with the stages done so far; an interrupted study
resumes at the stage that did not finish (the GAN stage resumes from its last checkpoint, and a GAN
finished outside the study counts as done). Everything that can be checked is checked before the
first stage: the data, the options, the cut and how many synthetic images the ratio needs.
With several minority sizes, `run_study` runs a sweep: one study per size and a figure across them.
"""

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..datasets.dataset import BUNDLED_DATASETS, Dataset, load_dataset, resolve_source
from ..runtime.distribute import STRATEGIES
from ..runtime.precision import check_precision
from ..errors import UserError, invalid_argument
from ..runs import latest_gan_run, latest_run_dir, new_run_dir, read_gan_config, read_json, write_json, write_text
from ..datasets.splits import Splits, cut_assignments, cut_class, cut_splits, resolve_splits
from ..datasets.summary import format_summary

log = logging.getLogger("xgan")

STUDY_FILE = "study.json"
STAGES = ("data", "gan", "sample", "quality", "classify", "report")
# quick: the whole study in under 10 minutes on 2 CPU cores; paper: the study's 1000 GAN epochs, 50 classifier epochs.
PRESETS = {
    # quick: a narrower GAN (width 32) for more steps in the same time: sharper images than width 64 at 300 epochs.
    "quick": {"gan_epochs": 700, "gan_width": 32, "classifier_epochs": 12, "patience": 4, "quality_images": 200},
    "paper": {"gan_epochs": 1000, "gan_width": 64, "classifier_epochs": 50, "patience": 10, "quality_images": 500},
}
# The default study: one source for both classes (no source shortcut), the minority's training images cut to a
# realistic few, and validation and test left whole, so the test split keeps its 135 real normal images.
DEFAULT_STUDY_DATA = "pneumoniamnist"
DEFAULT_MINORITY_TRAIN = 120
GAN_SIZES = (32, 64, 128)
MIN_SYNTHETIC = 400  # sampled even when the ratio needs fewer: the quality report compares a few hundred
CURATION_POOL = 2  # --conditional: images drawn per image the equal-share arms use (gan_curated keeps the better half)
# Why a study cannot run multi-worker: train_gan on a non-chief worker trains in a temporary folder deleted when it returns,
# so that worker has no generator to sample from, yet under DATA sharding every worker's classifier reads the whole training
# set, synthetic images included; and a study resumes from a folder that only the chief has.
MULTI_WORKER_REFUSAL = ("`xgan run` does not take --strategy multi-worker: a non-chief worker keeps no GAN to sample from, "
                        "yet its classifier needs the synthetic images, and the study folder it resumes from is the chief's alone; "
                        "on several machines run `xgan train --strategy multi-worker`, `xgan sample` (then copy its folder to every "
                        "machine) and `xgan classify --strategy multi-worker --synthetic DIR`, or use --strategy mirrored for the "
                        "GPUs of one machine")


@dataclass
class StudyConfig:
    """Options of `xgan run`; None fields take the preset's (or the data's) value."""

    data: str | None = None  # dataset path or bundled name; None = the default study (pneumoniamnist, minority cut)
    class_name: str | None = None  # class the GAN learns and balancing adds to; None = the minority
    ratio: str = "0.5"  # balancing target (minority / majority after), as for `xgan balance`
    seeds: int = 3  # classifier seeds per arm
    preset: str = "quick"  # "quick" or "paper"
    size: int | None = None  # image side for the GAN and the classifier; None = 32 for data of 32 px or less, else 64
    num_synthetic: int | None = None  # images sampled from the GAN; None = what the ratio needs (at least 400)
    minority_train: tuple[int, ...] | None = None  # cut the minority's training images to N (several: a sweep)
    gan_epochs: int | None = None  # None = the preset's
    classifier_epochs: int | None = None  # None = the preset's
    quality: bool = True  # measure the synthetic images (KID, precision/recall, memorization)
    splits: str | None = None  # the dataset's splits.json (before any cut); None = beside the dataset
    out: str = "samples"  # parent of the numbered study folder
    seed: int = 0  # GAN, sampling, the cut, choice of synthetic images and the first classifier seed
    accept_failed_gan: bool = False  # go on sampling from a GAN that diverged or collapsed
    tensorboard: bool = False  # TensorBoard logs in the GAN run and beside every classifier model
    conditional: bool = False  # one class-conditional GAN on every class, and every GAN arm of issue 11 in the comparison
    strategy: str = "default"  # tf.distribute of the GAN and classifier stages: "default" (one device) or "mirrored" (this machine's GPUs)
    precision: str = "float32"  # of the GAN and classifier stages: "float32", or "mixed" (float16 computation; for GPUs, see precision.py)
    external: tuple[str, ...] = ()  # external test sets ("NAME=PATH"), scored by the classify stage like `xgan evaluate`
    backbone: str = "cnn"  # network of every classifier arm: "cnn" (the study's) or a keras.applications family (classifier/backbones.py)
    weights: str = "none"  # the backbone's starting weights: "none", "imagenet" or a .h5 weights file of its family
    freeze_epochs: int | None = None  # head-only epochs of a pretrained backbone; None: 3 with pretrained weights, else 0

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise invalid_argument("strategy", f"one of {', '.join(STRATEGIES)} (option --strategy)", self.strategy)
        if self.strategy == "multi-worker":
            raise UserError(MULTI_WORKER_REFUSAL)
        check_precision(self.precision)
        from ..classifier.backbones import resolve_network_options

        # The study's sizes (32, 64, 128) are all at least every family's smallest; the size is checked here when given.
        _, self.weights, self.freeze_epochs = resolve_network_options(self.backbone, self.size, self.weights, self.freeze_epochs,
                                                                      lambda: 32)
        from ..classifier.external import parse_externals

        self.external = tuple(str(spec) for spec in parse_externals(self.external or ()))  # as NAME=PATH, so study.json names them
        if self.preset not in PRESETS:
            raise invalid_argument("preset", f"one of {sorted(PRESETS)}", self.preset)
        from ..balance import parse_target

        parse_target(self.ratio)
        if self.data is None:
            self.data = DEFAULT_STUDY_DATA
            if self.minority_train is None:
                self.minority_train = (DEFAULT_MINORITY_TRAIN,)
        if self.minority_train is not None:
            self.minority_train = tuple(self.minority_train)
            if not self.minority_train or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.minority_train):
                raise invalid_argument("minority_train", "positive integers", received=f"minority_train={','.join(map(str, self.minority_train))}")
            if len(set(self.minority_train)) != len(self.minority_train):
                raise invalid_argument("minority_train", "each value once", received=f"minority_train={','.join(map(str, self.minority_train))}")
        preset = PRESETS[self.preset]
        if self.gan_epochs is None:
            self.gan_epochs = preset["gan_epochs"]
        if self.classifier_epochs is None:
            self.classifier_epochs = preset["classifier_epochs"]
        for name in ("seeds", "gan_epochs", "classifier_epochs"):
            if getattr(self, name) < 1:
                raise invalid_argument(name, "a positive integer", received=f"{name}={getattr(self, name)}")
        if self.num_synthetic is not None and self.num_synthetic < 1:
            raise invalid_argument("num_synthetic", "a positive integer", received=f"num_synthetic={self.num_synthetic}")
        if self.size is not None and self.size not in GAN_SIZES:
            raise invalid_argument("size", f"one of {', '.join(map(str, GAN_SIZES))}", received=f"size={self.size}")

    @property
    def is_sweep(self) -> bool:
        """True when several minority sizes are asked for: one study per size, and a figure across them."""
        return self.minority_train is not None and len(self.minority_train) > 1

    @property
    def data_name(self) -> str:
        """A short name of the dataset, for folder names and reports."""
        return self.data if self.data in BUNDLED_DATASETS and not Path(self.data).exists() else Path(self.data).stem


@dataclass
class StudyPlan:
    """What a study will do, worked out before anything long runs.

    Attributes:
        dataset: the dataset (records only).
        base_splits: its splits before any cut.
        cut: the cut's assignments when the minority is cut, else None.
        class_name: the class the GAN learns and balancing adds to (with several, the smallest).
        train_counts: training images per class (after the cut).
        target: images per class after balancing to the ratio.
        num_needed: synthetic images the ratio needs.
        num_synthetic: synthetic images to sample (at least `num_needed`).
        size: image side of the GAN and the classifier.
        gan_classes: every class a GAN is trained for: `class_name` alone, or with three or more
            classes and no --class, every class the ratio adds images to (one GAN each).
    """

    dataset: Dataset
    base_splits: Splits
    cut: dict | None
    class_name: str
    train_counts: dict[str, int]
    target: dict[str, int]
    num_needed: int
    num_synthetic: int
    size: int
    gan_classes: list[str] = dataclasses.field(default_factory=list)


def plan_study(config: StudyConfig, minority_train: int | None = None) -> StudyPlan:
    """Check the data and every option against it, and work out the synthetic count, in seconds.

    Raises:
        UserError: bad data, a ratio that adds nothing or adds to another class than the GAN's, too few
            synthetic images asked for, an impossible cut.
    """
    from ..balance import resolve_target

    dataset = load_dataset(config.data)
    if config.external:  # a class the models will not know is refused before the GAN trains
        from ..classifier.external import load_external_sets, parse_externals

        load_external_sets(parse_externals(config.external), dataset.class_names, None)
    base = resolve_splits(dataset, Path(config.splits) if config.splits else None)
    assignments, cut = base.assignments, None
    if minority_train is not None:
        cut_class_name = cut_class(dataset.class_counts(set(base.keys("train"))), config.class_name)
        assignments = cut_assignments(dataset, base, minority_train, cut_class_name, config.seed)
        cut = {"class": cut_class_name, "num_train": minority_train}
    train_counts = dataset.class_counts({k for k, s in assignments.items() if s == "train"})
    target = resolve_target(train_counts, config.ratio)
    grown = [name for name in target if target[name] > train_counts[name]]
    class_name = cut_class(train_counts, config.class_name)
    gan_classes = [class_name]
    if len(train_counts) > 2 and config.class_name is None and grown:  # one GAN per class the ratio adds images to
        gan_classes = sorted(grown, key=lambda name: (train_counts[name], name))
        class_name = gan_classes[0]
    if grown != [class_name] and sorted(grown) != sorted(gan_classes):
        raise UserError(f"the ratio {config.ratio!r} adds images to class(es) {', '.join(grown)}, but the study's GAN learns class "
                        f"{class_name!r}; pass --class {grown[0]} or a ratio for {class_name}")
    # With several GANs each is sampled for the most any of them needs.
    num_needed = max(target[name] - train_counts[name] for name in gan_classes)
    if config.num_synthetic is not None and config.num_synthetic < num_needed:
        raise invalid_argument("num_synthetic", f"at least the {num_needed} synthetic images that ratio {config.ratio} needs ({train_counts[class_name]} -> {target[class_name]} {class_name})", received=f"num_synthetic={config.num_synthetic}")
    num_synthetic = config.num_synthetic or max(num_needed, MIN_SYNTHETIC)
    return StudyPlan(dataset, base, cut, class_name, train_counts, target, num_needed, num_synthetic,
                     config.size or default_study_size(dataset), gan_classes)


def default_study_size(dataset: Dataset) -> int:
    """32 px for data stored at 32 px or less (PneumoniaMNIST's 28), else 64: the GAN's sizes, never upsampling far."""
    largest = max((max(shape) for shape in dataset.original_shapes), default=64)
    return 32 if largest <= 32 else 64


class StudyState:
    """The study folder's `study.json`: the options and what each finished stage produced."""

    def __init__(self, folder: Path, config: StudyConfig, stages: dict | None = None):
        self.folder, self.config, self.stages = folder, config, stages or {}

    @classmethod
    def load(cls, folder: Path) -> "StudyState":
        path = folder / STUDY_FILE
        if not path.is_file():
            raise UserError(f"{folder}: not a study folder (no {STUDY_FILE}); expected a folder written by `xgan run`")
        data = read_json(path)
        return cls(folder, StudyConfig(**data["config"]), data["stages"])

    def done(self, stage: str) -> bool:
        return stage in self.stages

    def finish(self, stage: str, **details) -> None:
        self.stages[stage] = details
        self.save()

    def save(self) -> None:
        write_json(self.folder / STUDY_FILE, {"config": dataclasses.asdict(self.config), "stages": self.stages})


def find_study(resume: Path | None, parent: Path) -> Path:
    """The study folder to resume: `resume` itself, or the latest one under `parent`."""
    if resume is not None:
        return Path(resume)
    found = latest_run_dir(parent, STUDY_FILE)
    if found is None:
        raise UserError(f"{parent}: no study to resume; start one with `xgan run`")
    return found


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


def _run_stages(state: StudyState, echo: Callable[[str], None]) -> None:
    stages = [s for s in STAGES if s != "quality" or state.config.quality]
    start = time.perf_counter()
    for number, stage in enumerate(stages, start=1):
        title = CONDITIONAL_GAN_TITLE if stage == "gan" and state.config.conditional else STAGE_TITLES[stage]
        if state.done(stage):
            echo(f"[{number}/{len(stages)}] {title}: done earlier, kept")
            continue
        echo(f"[{number}/{len(stages)}] {title}")
        stage_start = time.perf_counter()
        STAGE_FUNCTIONS[stage](state, echo)
        state.stages[stage]["seconds"] = round(time.perf_counter() - stage_start, 1)
        state.save()
    log.info("study finished in %.0f s", time.perf_counter() - start)


def _run_sweep(state: StudyState, echo: Callable[[str], None]) -> None:
    """One study per minority size, each in its own folder under the sweep's, then the figure across them."""
    from .sweep import write_sweep_report

    studies = state.stages.setdefault("studies", {})
    for number, size in enumerate(state.config.minority_train, start=1):
        key = str(size)
        echo(f"== minority size {size} ({number} of {len(state.config.minority_train)}) ==")
        folder = Path(studies[key]) if key in studies else None
        if folder is not None and (folder / STUDY_FILE).is_file():
            study = StudyState.load(folder)
            if "report" in study.stages:
                echo(f"done earlier, kept: {folder}")
                continue
            study.config.accept_failed_gan = state.config.accept_failed_gan
        else:
            config = dataclasses.replace(state.config, minority_train=(size,), out=str(state.folder / "studies"))
            study = StudyState(new_run_dir(state.folder / "studies", f"study-{config.data_name}-minority{size}"), config)
            studies[key] = str(study.folder)
            state.save()
        study.save()
        _run_stages(study, echo)
    path = write_sweep_report(state.folder, state.config, {int(k): Path(v) for k, v in studies.items()})
    state.finish("report", file=str(path), studies=studies)
    echo(f"sweep report: {path}")


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
            gan_config = GanConfig(data=data["data"], class_name=None if config.conditional else class_name,
                                   conditional=config.conditional, splits=data["splits"],
                                   image_size=data["size"], width=PRESETS[config.preset]["gan_width"], epochs=config.gan_epochs,
                                   kimg=conditional_kimg(state) if config.conditional else None,
                                   out=str(parent), tensorboard=config.tensorboard, seed=config.seed, strategy=config.strategy,
                                   precision=config.precision)
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
    from ..classifier.arms import study_arm_names
    from ..classifier.classify import ClassifyConfig, classify

    config, data = state.config, state.stages["data"]
    preset = PRESETS[config.preset]
    result = classify(ClassifyConfig(
        data=Path(data["data"]), splits=Path(data["splits"]),
        synthetic=tuple(Path(folder) for folder in _runs(state, "sample", "folders").values()),
        # The one-class GAN's study keeps its arms marked `in_study` (the quick preset's time); --conditional adds every GAN variant.
        arm_names=() if config.conditional else study_arm_names(),
        ratio=config.ratio, compare=True, seeds=config.seeds, size=data["size"], epochs=config.classifier_epochs,
        # two classes: the GAN's class is the positive one; three or more: a softmax, no positive class
        patience=preset["patience"], positive=data["class_name"] if len(data["class_counts"]) == 2 else None,
        out=state.folder / "classify", seed=config.seed,
        tensorboard=config.tensorboard, strategy=config.strategy, precision=config.precision, external=config.external,
        backbone=config.backbone, weights=config.weights, freeze_epochs=config.freeze_epochs))
    echo(result.summary)
    state.finish("classify", folder=str(result.run_dir), seconds=round(result.seconds, 1))


def _stage_report(state: StudyState, echo) -> None:
    from .report import write_study_report

    path = write_study_report(state.folder, state.config, state.stages)
    state.finish("report", file=str(path))
    echo(f"report: {path}")


STAGE_FUNCTIONS = {"data": _stage_data, "gan": _stage_gan, "sample": _stage_sample, "quality": _stage_quality,
                   "classify": _stage_classify, "report": _stage_report}
STAGE_TITLES = {"data": "data and splits", "gan": "training the GAN on the minority training images",
                "sample": "sampling synthetic images", "quality": "measuring synthetic image quality and memorization",
                "classify": "training and comparing the classifier arms", "report": "writing the report"}
CONDITIONAL_GAN_TITLE = "training one class-conditional GAN on every class's training images"
