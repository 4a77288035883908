"""xgan from Python: each command as one function that takes the config dataclass the CLI builds and returns what it made.

    import xgan

    dataset = xgan.load_dataset("covid_ccby", size=32)
    run = xgan.train_gan(xgan.GanConfig(data="covid_ccby", image_size=32, epochs=3, out="runs"))
    synthetic = xgan.sample(run.folder, 40)
    comparison = xgan.compare(xgan.ClassifyConfig(compare=True, synthetic=(synthetic.path,), ...))
    comparison.verdicts  # {"gan": "within noise"}: each arm against the baseline on the primary metric

Nothing is printed: every function returns a result object (folders, metrics, the report as a dict) and logs its
progress to the `xgan` logger. Mistakes a user can fix raise `xgan.UserError` with the message the CLI would print.
The functions write the same run folders as the commands, so `xgan sample --run`, `xgan evaluate --model` and the
rest read them, and the other way round. TensorFlow is imported by the functions that train or sample, when called.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .balance.command import BalanceConfig, BalanceResult, run_balance
from .classifier.classify_config import ClassifyConfig
from .datasets.dataset import load_dataset
from .errors import invalid_argument
from .gan.config import GanConfig, kid_every_default
from .runs import SyntheticFolder, read_gan_config, read_history, read_json, read_synthetic_folder
from .study.config import StudyConfig
from .study.state import STUDY_FILE

if TYPE_CHECKING:
    from .classifier.classify import ClassifyResult
    from .quality.config import QualityConfig

log = logging.getLogger("xgan")

__all__ = [
    "Comparison", "GanRun", "StudyResult", "build_training_set", "classify", "compare", "evaluate", "load_dataset",
    "measure_quality", "predict", "run_study", "sample", "train_gan",
]


@dataclass(frozen=True)
class GanRun:
    """A GAN run folder and what it recorded, as `xgan train` leaves it.

    Attributes:
        folder: the run folder (`<out>/NNNNN-gan-<class>/`), to pass to `sample` or `xgan sample --run`.
        config: its config.json: the options, the dataset and the class it learned.
        history: its history.json: one dict per epoch (losses, discriminator accuracies, `kid` when logged).
        problems: one sentence per sign of a failed run (diverged, collapsed, discriminator winning); [] when healthy.
    """

    folder: Path
    config: dict
    history: list[dict]
    problems: list[str]

    @classmethod
    def from_folder(cls, folder: Path | str) -> "GanRun":
        """Read a GAN run folder, finished or stopped.

        Raises:
            UserError: `folder` is not a GAN run folder.
        """
        from .gan.health import training_problems

        folder = Path(folder)
        return cls(folder, read_gan_config(folder), read_history(folder), training_problems(folder))

    @property
    def losses_figure(self) -> Path:
        """losses.png: the losses, discriminator accuracies and KID per epoch."""
        return self.folder / "losses.png"

    @property
    def previews(self) -> list[Path]:
        """The preview grids (the same latents every time), oldest first."""
        return sorted((self.folder / "previews").glob("*.png"))


@dataclass(frozen=True)
class Comparison:
    """The arms x seeds comparison of `compare` (or of a study), read from its report.json.

    Attributes:
        folder: the comparison's run folder: report.md, report.json, figures and `arms/<arm>/seed<k>/` models.
        report: report.json as a dict (every number: per-arm summaries, paired intervals, McNemar tests).
    """

    folder: Path
    report: dict = field(repr=False)

    @classmethod
    def from_folder(cls, folder: Path | str) -> "Comparison":
        """Read the comparison that `xgan classify --compare` (or a study's classify stage) wrote in `folder`.

        Raises:
            UserError: no readable report.json there.
        """
        folder = Path(folder)
        return cls(folder, read_json(folder / "report.json"))

    @property
    def arms(self) -> list[str]:
        """The arms compared, the baseline first."""
        return list(self.report["arms"])

    @property
    def primary_metric(self) -> str:
        """The declared metric whose paired comparison alone gives each arm's verdict (balanced accuracy; Holm-adjusted over the comparisons)."""
        return self.report["primary_metric"]

    @property
    def report_file(self) -> Path:
        """report.md, the readable report."""
        return self.folder / "report.md"

    def scores(self, metric: str | None = None) -> dict[str, float]:
        """Each arm's mean over seeds of `metric` (default: the primary one), at each model's validation threshold.

        Raises:
            UserError: a metric the report does not hold.
        """
        metric = metric or self.primary_metric
        known = self.report["arms"][self.arms[0]]["summary"]
        if metric not in known:
            raise invalid_argument("metric", f"one of {', '.join(known)}", metric)
        return {arm: record["summary"][metric]["mean"] for arm, record in self.report["arms"].items()}

    @property
    def differences(self) -> dict[str, dict]:
        """Each non-baseline arm minus the baseline on the primary metric: `difference`, `low`, `high` (95% paired interval)."""
        primary = self.primary_metric
        return {arm: comparison["differences"][primary] for arm, comparison in self.report["comparisons"].items()}

    @property
    def verdicts(self) -> dict[str, str]:
        """Each non-baseline arm against the baseline on the primary metric: "better", "worse" or "within noise"."""
        return {arm: comparison["primary_verdict"] for arm, comparison in self.report["comparisons"].items()}

    @property
    def verdict(self) -> str:
        """The plain-language verdict of the study's report (Markdown): the table of arms, then what it means for GAN images."""
        from .study.report import verdict_lines

        return "\n".join(verdict_lines(self.report))


@dataclass(frozen=True)
class StudyResult:
    """A finished study (or sweep) folder of `run_study`.

    Attributes:
        folder: the study folder (`<out>/NNNNN-study-<data>/`, or `-sweep-` for several minority sizes).
        report_file: its report.md (sweep.md for a sweep).
        comparison: the classifier arms' comparison; None for a sweep.
        studies: for a sweep, the study of each minority size; {} otherwise.
    """

    folder: Path
    report_file: Path
    comparison: Comparison | None
    studies: dict[int, "StudyResult"] = field(default_factory=dict)

    @classmethod
    def from_folder(cls, folder: Path | str) -> "StudyResult":
        """Read a finished study or sweep folder.

        Raises:
            UserError: not a study folder, or one whose report is not written yet (resume it with `xgan run --resume`).
        """
        folder = Path(folder)
        stages = read_json(folder / STUDY_FILE)["stages"]
        if "report" not in stages:
            raise invalid_argument("folder", f"a finished study (resume this one with `xgan run --resume --study {folder}`)",
                                   str(folder))
        if "studies" in stages["report"]:
            studies = {int(size): cls.from_folder(path) for size, path in stages["report"]["studies"].items()}
            return cls(folder, Path(stages["report"]["file"]), None, studies)
        return cls(folder, Path(stages["report"]["file"]), Comparison.from_folder(stages["classify"]["folder"]))


def train_gan(config: GanConfig, *, kid_every: int | None = None, callbacks=()) -> GanRun:
    """Train a DCGAN as `xgan train` does, in a new run folder.

    With `config.conditional`, one conditional GAN; with `config.model` "ddim", a diffusion model.

    Args:
        config: the run's options (`GanConfig`), including `out`, the parent of the numbered run folder.
        kid_every: epochs between the cheap KID estimates logged in the history, as `xgan train --kid-every`; 0 = none;
            None = the family's default (10 epochs, 100 for "ddim").
        callbacks: further `keras.callbacks.Callback`s (see `xgan.gan.train_gan`).

    Returns:
        The run, with its folder, history and any signs that it failed.

    Raises:
        UserError: bad data or options; an interruption or divergence (`TrainingStopped`, which says how to resume).
    """
    from .gan import train_gan as train

    if kid_every is None:
        kid_every = kid_every_default(config.model)
    if isinstance(kid_every, bool) or not isinstance(kid_every, int) or kid_every < 0:
        raise invalid_argument("kid_every", "a non-negative integer", kid_every)
    monitors = []
    if kid_every:
        from .quality.monitor import KidMonitor

        monitors.append(KidMonitor(kid_every))
    return GanRun.from_folder(train(config, callbacks=[*monitors, *callbacks]))


def sample(run: GanRun | Path | str | None, num_images: int, out: Path | str | None = None, *, checkpoint: str | None = None,
           class_name: str | None = None, seed: int = 0, overwrite: bool = False) -> SyntheticFolder:
    """Write `num_images` PNGs from a GAN run's averaged generator, as `xgan sample` does.

    Args:
        run: the GAN run (a `GanRun` or its folder); None = the latest under samples/.
        num_images: how many images.
        out: the folder to write; None = `<run>/synthetic` (`<run>/synthetic-<class>` for a conditional run).
        checkpoint: the generator snapshot, e.g. "epoch_0200"; None = the latest.
        class_name: the class to draw from a conditional run (required there).
        seed: the latents' seed: the same seed writes byte-identical PNGs.
        overwrite: replace the images an earlier `sample` wrote in that folder.

    Returns:
        The synthetic folder: its path and every image with the run, checkpoint and seed that made it.

    Raises:
        UserError: no such run or checkpoint, or a folder that already holds images and not `overwrite`.
    """
    from .gan import sample_to_folder

    folder = sample_to_folder(run.folder if isinstance(run, GanRun) else run, num_images, out, checkpoint=checkpoint,
                              seed=seed, overwrite=overwrite, class_name=class_name)
    return read_synthetic_folder(folder)


def build_training_set(config: BalanceConfig) -> BalanceResult:
    """Write a training manifest: the real training split plus the images that bring each class to a target (`xgan balance`).

    With `config.curate`, the classifier saved there scores every synthetic image and each class takes its best ones.

    Returns:
        The rows, the manifest written (`out`, unless `config.dry_run`), the target per class and a printable summary.

    Raises:
        UserError: an existing manifest without `overwrite`, too few synthetic images, a synthetic folder whose GAN
            read held-out images, and every other refusal of `xgan balance`.
    """
    from .classifier.curate import curation_scorer

    return run_balance(config, curation_scorer(config.curate, config.synthetic))


def classify(config: ClassifyConfig) -> "ClassifyResult":
    """Train the classifier on one training set (`xgan classify`), or with `config.compare` every arm over its seeds.

    Returns:
        The run folder, every model's test scores and probabilities (`runs`), the report dict and a printable summary.

    Raises:
        UserError: bad data or options, and any synthetic image that could leak into validation or test.
    """
    from .classifier.classify import classify as run_classify

    return run_classify(config)


def compare(config: ClassifyConfig) -> Comparison:
    """Compare the arms (baseline, augmentation, oversampling, class weights, the GAN arms) over several seeds.

    Args:
        config: `ClassifyConfig(compare=True, ...)`: `synthetic` folders for the GAN arms, `arm_names` to choose
            arms (the baseline always runs), `seeds`, `epochs`, `size`, `out`.

    Returns:
        The comparison: its folder, `scores()`, paired `differences` and `verdicts` against the baseline.

    Raises:
        UserError: a config without `compare`, and everything `classify` refuses.
    """
    if not config.compare:
        raise invalid_argument("compare", "True in the ClassifyConfig of compare (xgan.classify trains one model)", config.compare)
    result = classify(config)
    return Comparison(result.run_dir, result.report)


def measure_quality(config: "QualityConfig"):
    """Measure how real, diverse and private synthetic images are (`xgan quality`).

    With `config.checkpoints`, rank a GAN run's checkpoints by KID instead and recommend one.

    Returns:
        A `QualityOutcome`: the report folder, the files written, the summary lines and any warnings (near copies).

    Raises:
        UserError: bad inputs, or an existing report without `overwrite`.
    """
    from .quality import run_quality

    return run_quality(config)


def run_study(config: StudyConfig, *, echo: Callable[[str], None] = log.info) -> StudyResult:
    """Run the whole study of `xgan run`: split, GAN, sampling, quality, every classifier arm over seeds, one report.

    Args:
        config: the study's options (`StudyConfig()` is the default study: the bundled PneumoniaMNIST, normal cut to
            120 training images, the quick preset); `minority_train=(60, 120, 240)` runs a sweep.
        echo: where the stage headings and summaries go (`print` to see them; the `xgan` logger by default).

    Returns:
        The finished study: its folder, report.md and the comparison (`result.comparison.verdict`).

    Raises:
        UserError: bad data or options, a failed GAN, or an interruption; the message says how to resume
            (`xgan run --resume --study FOLDER`).
    """
    from .study.runner import run_study as run

    return StudyResult.from_folder(run(config, echo=echo))


def evaluate(model: Path | str | list, data: Path | str, out: Path | str | None = None, **options):
    """Score a saved classifier, or the ensemble of several, on every image of `data` as test data (`xgan evaluate`).

    Args:
        model: a classifier run folder or its model.keras, a folder of seeds, or a list of these (their ensemble).
        data: a class-per-folder directory, a manifest.csv, an .npz or a bundled set by name; images the model trained
            or stopped early on are left out (with a count).
        out: the folder for metrics.json, predictions.csv and plots; None = a new samples/NNNNN-evaluate/.
        options: `tta`, `threshold_record` and `parent`, as `xgan.classifier.evaluate_model` takes them.

    Returns:
        An `EvaluateResult`: the metrics at the model's stored threshold (and at 0.5), the folder, the images left out.
    """
    from .classifier.evaluate import evaluate_model

    return evaluate_model(model, data, out, **options)


def predict(model: Path | str | list, images, **options) -> list:
    """The class and its probability for each image file, called at the model's stored threshold (`xgan predict`).

    Args:
        model: a classifier run folder or its model.keras, a folder of seeds, or a list of these (their ensemble).
        images: image file paths.
        options: `tta` and `threshold_record`, as `xgan.classifier.predict_images` takes them.

    Returns:
        One `Prediction` per image: its path, the class called, its probability and the threshold.
    """
    from .classifier.predict import predict_images

    return predict_images(model, list(images), **options)
