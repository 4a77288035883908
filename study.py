"""The whole study in one call: split, GAN, sample, quality, every classifier arm, one report.

`run_study` keeps a `study.json` in its folder with the stages done so far; an interrupted study
resumes at the stage that did not finish (the GAN stage resumes from its last checkpoint).
"""

import dataclasses
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .dataset import load_dataset
from .errors import UserError
from .runs import latest_gan_run, latest_run_dir, new_run_dir, read_json, write_json, write_text
from .splits import resolve_splits
from .summary import format_summary

log = logging.getLogger("xgan")

STUDY_FILE = "study.json"
STAGES = ("data", "gan", "sample", "quality", "classify", "report")
# quick: the whole study in under 10 minutes on 2 CPU cores; paper: the study's 1000 GAN epochs, 50 classifier epochs.
PRESETS = {
    # quick: a narrower GAN (width 32) for more steps in the same time: sharper images than width 64 at 300 epochs.
    # On a 2-core AVX2 CPU, `time xgan run` took 8m05s: 700 GAN epochs 212 s, the classifier arms 246 s.
    "quick": {"gan_epochs": 700, "gan_width": 32, "classifier_epochs": 12, "patience": 4, "quality_images": 200},
    "paper": {"gan_epochs": 1000, "gan_width": 64, "classifier_epochs": 50, "patience": 10, "quality_images": 500},
}


@dataclass
class StudyConfig:
    """Options of `xgan run`; None fields take the preset's value."""

    data: str | None = None  # dataset; None = the bundled covid_ccby set
    class_name: str | None = None  # class the GAN learns and balancing adds to; None = the minority
    ratio: str = "0.5"  # balancing target (minority / majority after), as for `xgan balance`
    seeds: int = 3  # classifier seeds per arm
    preset: str = "quick"  # "quick" or "paper"
    size: int = 64  # image side for the GAN and the classifier
    num_synthetic: int = 400  # images sampled from the GAN
    gan_epochs: int | None = None  # None = the preset's
    classifier_epochs: int | None = None  # None = the preset's
    quality: bool = True  # measure the synthetic images (KID, precision/recall, memorization)
    splits: str | None = None  # splits.json; None = beside the dataset
    out: str = "samples"  # parent of the numbered study folder
    seed: int = 0  # GAN, sampling, choice of synthetic images and the first classifier seed
    tensorboard: bool = False  # TensorBoard logs in the GAN run and beside every classifier model

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise UserError(f"Invalid value received for argument `preset`. Expected one of {sorted(PRESETS)}. Received: preset={self.preset!r}")
        from .balance import parse_target

        parse_target(self.ratio)
        preset = PRESETS[self.preset]
        if self.gan_epochs is None:
            self.gan_epochs = preset["gan_epochs"]
        if self.classifier_epochs is None:
            self.classifier_epochs = preset["classifier_epochs"]
        for name in ("seeds", "num_synthetic", "gan_epochs", "classifier_epochs", "size"):
            if getattr(self, name) < 1:
                raise UserError(f"Invalid value received for argument `{name}`. Expected a positive integer. Received: {name}={getattr(self, name)}")


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
    """The study folder to resume: `resume` itself, or the latest unfinished one under `parent`."""
    if resume is not None:
        return Path(resume)
    found = latest_run_dir(parent, STUDY_FILE)
    if found is None:
        raise UserError(f"{parent}: no study to resume; start one with `xgan run`")
    return found


def run_study(config: StudyConfig | None = None, resume: Path | None = None, resume_latest: bool = False) -> Path:
    """Run (or resume) the whole study and return its folder, which holds report.md.

    Raises:
        UserError: bad data or options, or an interruption (its message says how to resume).
    """
    if resume is not None or resume_latest:
        state = StudyState.load(find_study(resume, Path(config.out if config else "samples")))
        if "report" in state.stages:
            raise UserError(f"{state.folder}: this study is finished (see its report.md); start a new one without --resume")
    else:
        _check_data(config)
        dataset_name = Path(config.data).stem if config.data else "covid_ccby"
        state = StudyState(new_run_dir(Path(config.out), f"study-{dataset_name}"), config)
        state.save()
    stages = [s for s in STAGES if s != "quality" or state.config.quality]
    start = time.perf_counter()
    try:
        for number, stage in enumerate(stages, start=1):
            if state.done(stage):
                log.warning("[%d/%d] %s: done earlier, kept", number, len(stages), stage)
                continue
            print(f"[{number}/{len(stages)}] {STAGE_TITLES[stage]}", flush=True)
            stage_start = time.perf_counter()
            STAGE_FUNCTIONS[stage](state)
            state.stages[stage]["seconds"] = round(time.perf_counter() - stage_start, 1)
            state.save()
    except KeyboardInterrupt:
        raise UserError(f"interrupted; resume with `xgan run --resume {state.folder}`") from None
    except UserError as error:
        if "resume" in str(error).lower() and "--resume" not in str(error):
            raise UserError(f"{error} (the study resumes with `xgan run --resume {state.folder}`)") from None
        raise
    log.info("study finished in %.0f s", time.perf_counter() - start)
    return state.folder


def _check_data(config: StudyConfig) -> None:
    # Fail in a second on bad data, before a study folder is made.
    resolve_splits(load_dataset(config.data), config.splits)


def _stage_data(state: StudyState) -> None:
    dataset = load_dataset(state.config.data)
    splits = resolve_splits(dataset, state.config.splits)
    summary = format_summary(dataset, splits)
    write_text(state.folder / "data_summary.txt", summary + "\n")
    print(summary)
    state.finish("data", splits=str(splits.path), fingerprint=dataset.fingerprint,
                 class_counts=dataset.class_counts(), minority=dataset.minority_class)


def _stage_gan(state: StudyState) -> None:
    from .gan import GanConfig, resume_gan, train_gan
    from .gan.run_state import STATE_FILE

    config = state.config
    parent = state.folder / "gan"
    existing = latest_gan_run(parent)
    if existing is not None and (existing / STATE_FILE).is_file():
        run_dir = resume_gan(existing, epochs=config.gan_epochs, callbacks=_gan_callbacks(config))
    else:
        if existing is not None:  # a run killed before its first checkpoint: start again beside it
            log.warning("%s: no checkpoint yet, starting a new GAN run", existing)
        gan_config = GanConfig(data=config.data, class_name=config.class_name, splits=state.stages["data"]["splits"],
                               image_size=config.size, width=PRESETS[config.preset]["gan_width"], epochs=config.gan_epochs,
                               out=str(parent), tensorboard=config.tensorboard, seed=config.seed)
        run_dir = train_gan(gan_config, callbacks=_gan_callbacks(config))
    state.finish("gan", run=str(run_dir))


def _gan_callbacks(config: StudyConfig) -> list:
    from .quality.monitor import KidMonitor

    every = max(config.gan_epochs // 10, 1)
    return [KidMonitor(every=every, seed=config.seed)]


def _stage_sample(state: StudyState) -> None:
    from .gan import sample_to_folder

    out = state.folder / "synthetic"
    # A sample stage that did not finish left a partial folder: replacing it is safe, nothing else wrote there.
    folder = sample_to_folder(state.stages["gan"]["run"], state.config.num_synthetic, out, seed=state.config.seed, overwrite=True)
    state.finish("sample", folder=str(folder), num_images=state.config.num_synthetic)


def _stage_quality(state: StudyState) -> None:
    from .quality import QualityConfig, run_quality

    preset = PRESETS[state.config.preset]
    outcome = run_quality(QualityConfig(run=state.stages["gan"]["run"], synthetic=state.stages["sample"]["folder"],
                                        num_images=preset["quality_images"], out=str(state.folder / "quality"),
                                        overwrite=True, seed=state.config.seed))
    for line in outcome.summary:
        print(line)
    for warning in outcome.warnings:
        log.warning("%s", warning)
    state.finish("quality", folder=str(outcome.out_dir), warnings=list(outcome.warnings))


def _stage_classify(state: StudyState) -> None:
    from .classifier.classify import ClassifyConfig, classify

    config = state.config
    preset = PRESETS[config.preset]
    result = classify(ClassifyConfig(
        data=Path(config.data) if config.data else None, splits=Path(state.stages["data"]["splits"]),
        synthetic=(Path(state.stages["sample"]["folder"]),), ratio=config.ratio, compare=True, seeds=config.seeds,
        size=config.size, epochs=config.classifier_epochs, patience=preset["patience"],
        out=state.folder / "classify", seed=config.seed, tensorboard=config.tensorboard))
    print(result.summary)
    state.finish("classify", folder=str(result.run_dir), seconds=round(result.seconds, 1))


def _stage_report(state: StudyState) -> None:
    from .study_report import write_study_report

    path = write_study_report(state.folder, state.config, state.stages)
    state.finish("report", file=str(path))
    print(f"report: {path}")


STAGE_FUNCTIONS = {"data": _stage_data, "gan": _stage_gan, "sample": _stage_sample, "quality": _stage_quality,
                   "classify": _stage_classify, "report": _stage_report}
STAGE_TITLES = {"data": "data and splits", "gan": "training the GAN on the minority training images",
                "sample": "sampling synthetic images", "quality": "measuring synthetic image quality and memorization",
                "classify": "training and comparing the classifier arms", "report": "writing the report"}


def rebase_links(markdown: str, prefix: str) -> str:
    """Prefix the relative targets of markdown links and images, so a report can be embedded elsewhere."""
    def rebase(match):
        target = match.group(2)
        if re.match(r"^[a-z]+://|^/|^#", target):
            return match.group(0)
        return f"{match.group(1)}({prefix.rstrip('/')}/{target})"
    return re.sub(r"(!?\[[^\]]*\])\(([^)\s]+)\)", rebase, markdown)
