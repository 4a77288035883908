"""`xgan classify`: train the CNN on one training set, or compare every arm over several seeds.

`ClassifyConfig` holds the command's options. `prepare_experiment` loads the dataset at the
classifier's size with its saved splits; `training_set` builds each arm's training images;
`run_arm` trains, scores on the real test split and saves one model. `classify` writes one run
folder (one model) or, with `compare`, the arms x seeds comparison and its report.
"""

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..balance import DEFAULT_EQUAL_SHARE, parse_target, read_training_manifest, resolve_target, write_training_manifest
from ..datasets.dataset import Dataset, load_dataset
from ..runtime.distribute import STRATEGIES, run_parent
from ..errors import UserError, invalid_argument
from ..progress import progress_bar
from ..runs import latest_synthetic_folder, new_run_dir, read_json, write_history, write_json
from ..datasets.splits import Splits, resolve_splits
from .arms import ARMS, BASELINE_ARM, FINETUNE_LEARNING_RATE_FACTOR, WITH_GAN_ARM, training_set, weighted_classes
from .backbones import check_pretrained_weights, network_description, resolve_network_options
from .config import ClassifierConfig, optimizer_defaults
from .curate import curation_scores, read_synthetic_pool
from .external import load_external_sets, parse_externals, score_external_sets
from .realism import synthetic_vs_real
from .prediction_table import write_predictions
from .data import LabeledImages, check_evaluation_set, choose_positive, default_image_size, split_images

log = logging.getLogger("xgan")

TRAINING_MANIFEST = "training_manifest.csv"  # beside a model trained on a built set (oversampling, GAN arms)


@dataclass
class ClassifyConfig:
    """Options of `xgan classify`; the CLI options map one to one onto these fields."""

    data: Path | None = None  # dataset; None: the bundled covid_ccby set
    splits: Path | None = None  # splits.json; None: the dataset's own
    with_gan: bool = False  # train on the GAN-balanced training set
    synthetic: tuple[Path, ...] = ()  # synthetic folders (xgan sample) to balance with
    manifest: Path | None = None  # a training manifest from `xgan balance` instead of --synthetic
    ratio: str = "auto"  # balancing target of the GAN and oversampling arms: "auto", "0.5", "1:2", "covid=300"
    compare: bool = False  # run every arm over `seeds` seeds and write the report
    seeds: int | None = None  # seeds per arm: seed, seed+1, ...; None: 3 with `compare`, else 1 (several make a seed ensemble)
    size: int | str | None = None  # image side in pixels; None or "auto": 64 (the GAN's), or an .npz's own size when smaller, raised to the backbone's minimum
    epochs: int = 30  # most epochs per model (early stopping on the validation split)
    patience: int = 8  # epochs without validation improvement before stopping
    batch_size: int = 40
    optimizer: str = "adam"  # "adam", or "sgd": the study's SGD with momentum 5/6
    learning_rate: float | None = None  # None: the optimizer's default (adam 1e-3; sgd the study's 1e-4)
    lr_decay: float | None = None  # inverse time decay per step; None: adam none, sgd the study's 1e-6
    monitor: str = "val_auc"
    target_sensitivity: float | None = None  # None: threshold by Youden's J on the validation split; else the sensitivity it must reach there
    tta: bool = False  # score the test split (and choose the threshold) with test-time augmentation
    positive: str | None = None  # positive class; None: the minority
    out: Path = Path("samples")  # parent of the numbered run folder
    seed: int = 0  # first training seed; also seeds the choice of synthetic / repeated images
    tensorboard: bool = False  # also write TensorBoard logs (training and validation scalars) beside each model's history.json
    arm_names: tuple[str, ...] = ()  # with `compare`, train only these arms (and the baseline); () = every arm the inputs allow
    synthetic_cap: float = 0.5  # gan_capped: the most synthetic share of a class after balancing
    equal_share: float = DEFAULT_EQUAL_SHARE  # gan_equal and gan_curated: the synthetic share of every class
    strategy: str = "default"  # tf.distribute: "default" (one device), "mirrored" (this machine's GPUs), "multi-worker" (TF_CONFIG)
    precision: str = "float32"  # "float32", or "mixed": float16 computation with float32 weights (for GPUs; see precision.py)
    external: tuple = ()  # external test sets ("NAME=PATH" or a path; see external.py), scored like `xgan evaluate` after training
    backbone: str = "cnn"  # "cnn" (the study's CNN) or a keras.applications family (backbones.BACKBONES), for every arm
    weights: str = "none"  # the backbone's starting weights: "none", "imagenet" or a .h5 weights file of its family
    freeze_epochs: int | None = None  # head-only epochs before fine-tuning; None: 3 with pretrained weights, else 0
    shift_suite: bool = True  # with `compare`: score every model on corrupted copies of the test split (shift.py), a robustness proxy

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise invalid_argument("strategy", f"one of {', '.join(STRATEGIES)} (option --strategy)", self.strategy)
        self.synthetic = tuple(Path(p) for p in self.synthetic)
        self.out = Path(self.out)
        self.size, self.weights, self.freeze_epochs = resolve_network_options(self.backbone, self.size, self.weights, self.freeze_epochs,
                                                                              lambda: default_image_size(self.data))
        if self.seeds is None:
            self.seeds = 3 if self.compare else 1
        defaults = optimizer_defaults(self.optimizer)
        if self.learning_rate is None:
            self.learning_rate = defaults["learning_rate"]
        if self.lr_decay is None:
            self.lr_decay = defaults["lr_decay"]
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise invalid_argument("seed", "a non-negative integer", self.seed)
        if not isinstance(self.seeds, int) or self.seeds < 1:
            raise invalid_argument("seeds", "a positive integer", self.seeds)
        if self.synthetic and self.manifest:
            raise UserError("pass either --synthetic folders (balanced to --ratio here) or a --manifest from `xgan balance`, not both")
        if (self.synthetic or self.manifest) and not (self.with_gan or self.compare):
            raise UserError("--synthetic and --manifest are used with --with-gan (train on them) or --compare (the GAN arm)")
        if self.tensorboard:
            from ..runtime.tensorboard_logs import require_tensorboard

            require_tensorboard()
        parse_target(self.ratio)
        self.arm_names = tuple(self.arm_names)
        unknown = [arm for arm in self.arm_names if arm not in ARMS]
        if unknown:
            raise invalid_argument("arms", f"names among {', '.join(ARMS)}", received=f"{unknown[0]!r}")
        if self.arm_names and not self.compare:
            raise UserError("--arms chooses the arms of --compare; without --compare one model is trained (--with-gan or the baseline)")
        wanted_gan = [arm for arm in self.arm_names if ARMS[arm].needs_synthetic]
        if wanted_gan and not (self.synthetic or self.manifest):
            raise UserError(f"arm {wanted_gan[0]} needs synthetic images: pass --synthetic DIR (written by `xgan sample`)")
        if self.manifest and any(ARMS[arm].mixes_synthetic for arm in self.arm_names):
            mixing = [arm.name for arm in ARMS.values() if arm.mixes_synthetic]
            raise UserError(f"{', '.join(mixing)} mix synthetic images themselves: pass --synthetic folders, not a --manifest")
        for name in ("synthetic_cap", "equal_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise invalid_argument(name, "a share in (0, 1)", received=f"{name}={value!r}")
        self.external = parse_externals(self.external)
        if self.external and not self.compare and self.seeds == 1:
            raise UserError("--external scores a comparison (--compare) or a seed ensemble (--seeds N); for one model use "
                            "`xgan evaluate --model RUN --data SET`")
        self.classifier_config()  # its checks raise UserError

    @property
    def arms(self) -> list[str]:
        """The arms this run trains."""
        gan = bool(self.synthetic or self.manifest)
        if self.compare:
            if self.arm_names:  # the baseline always: every arm is compared with it
                return [name for name in ARMS if name in self.arm_names or name == BASELINE_ARM]
            return [name for name, arm in ARMS.items()
                    if (gan or not arm.needs_synthetic) and not (self.manifest and arm.mixes_synthetic)]
        return [WITH_GAN_ARM if self.with_gan else BASELINE_ARM]

    @property
    def seed_list(self) -> list[int]:
        """The training seeds of every arm: `seed`, `seed` + 1, ... (`seeds` of them)."""
        return [self.seed + i for i in range(self.seeds)]

    def classifier_config(self, **overrides) -> ClassifierConfig:
        """The network's config for these options."""
        values = {"image_size": self.size, "epochs": self.epochs, "patience": self.patience, "batch_size": self.batch_size,
                  "optimizer": self.optimizer, "learning_rate": self.learning_rate, "lr_decay": self.lr_decay,
                  "monitor": self.monitor, "target_sensitivity": self.target_sensitivity, "seed": self.seed,
                  "precision": self.precision, "backbone": self.backbone, "weights": self.weights, "freeze_epochs": self.freeze_epochs}
        return ClassifierConfig(**{**values, **overrides})

    def to_dict(self) -> dict:
        """JSON-ready options."""
        return {"data": None if self.data is None else str(self.data), "splits": None if self.splits is None else str(self.splits),
                "with_gan": self.with_gan, "synthetic": [str(p) for p in self.synthetic],
                "manifest": None if self.manifest is None else str(self.manifest), "ratio": self.ratio, "compare": self.compare,
                "seeds": self.seeds, "size": self.size, "epochs": self.epochs, "patience": self.patience,
                "batch_size": self.batch_size, "optimizer": self.optimizer, "learning_rate": self.learning_rate,
                "lr_decay": self.lr_decay, "monitor": self.monitor, "target_sensitivity": self.target_sensitivity,
                "tta": self.tta, "positive": self.positive, "out": str(self.out), "seed": self.seed, "tensorboard": self.tensorboard,
                "arm_names": list(self.arm_names), "synthetic_cap": self.synthetic_cap, "equal_share": self.equal_share,
                "strategy": self.strategy, "precision": self.precision, "external": [str(spec) for spec in self.external],
                "backbone": self.backbone, "weights": self.weights, "freeze_epochs": self.freeze_epochs,
                "shift_suite": self.shift_suite}


@dataclass
class Experiment:
    """The data every arm shares: dataset, splits, positive class and the real train/val/test images."""

    dataset: Dataset
    splits: Splits
    positive: str | None  # None with three or more classes
    train: LabeledImages
    validation: LabeledImages
    test: LabeledImages
    manifest_rows: list = field(default_factory=list)

    @property
    def class_names(self) -> list[str]:
        return list(self.dataset.class_names)

    @property
    def negative(self) -> str | None:
        """The other class of a binary experiment; None with three or more classes."""
        if self.positive is None:
            return None
        return next(name for name in self.class_names if name != self.positive)

    @property
    def is_multiclass(self) -> bool:
        """Three or more classes: a softmax model, macro-averaged and per-class metrics."""
        return self.positive is None

    def targets(self, images: "LabeledImages") -> np.ndarray:
        """0/1 targets of the positive class, or class indices with three or more classes."""
        return images.model_targets(self.positive, self.class_names)


@dataclass
class ArmRun:
    """One trained model of one arm and seed, scored on the test split.

    `metrics` are at `threshold`, chosen on the validation split from `validation_probabilities`
    (with `metrics["at_threshold_0.5"]` beside them); with TTA both probabilities are TTA means.
    """

    arm: str
    seed: int
    probabilities: np.ndarray
    metrics: dict
    history: list[dict]
    best_epoch: int
    seconds: float
    training_set: dict
    run_dir: Path
    threshold: float | None = 0.5  # None for a softmax model (three or more classes)
    validation_probabilities: np.ndarray | None = None


@dataclass
class ClassifyResult:
    """What `classify` wrote and measured."""

    run_dir: Path
    experiment: Experiment
    runs: list[ArmRun]
    report: dict | None
    seconds: float
    summary: str


def prepare_experiment(config: ClassifyConfig) -> Experiment:
    """Load the dataset at the classifier's size, its saved splits, and the real split images."""
    dataset = load_dataset(config.data, config.size)
    splits = resolve_splits(dataset, config.splits)
    positive = choose_positive(dataset, config.positive)
    experiment = Experiment(dataset, splits, positive, split_images(dataset, splits, "train"),
                            split_images(dataset, splits, "val"), split_images(dataset, splits, "test"))
    if config.manifest:
        experiment.manifest_rows = read_training_manifest(config.manifest)
        check_manifest_dataset(Path(config.manifest), dataset)
    for name, images in (("train", experiment.train), ("val", experiment.validation), ("test", experiment.test)):
        missing = [c for c in experiment.class_names if c not in images.labels]
        if missing and name != "train":
            log.warning("the %s split has no image of class %s: some metrics are undefined", name, missing[0])
        elif missing:
            raise UserError(f"{splits.path}: the train split has no image of class {missing[0]}; the classifier needs every class")
    return experiment


def default_synthetic_folders(config: ClassifyConfig, experiment: Experiment) -> tuple[Path, ...]:
    """For --with-gan without --synthetic: the latest `xgan sample` output under `config.out` for each
    class that balancing to `config.ratio` adds images to.

    Raises:
        UserError: a class that needs images has no such folder.
    """
    counts = experiment.dataset.class_counts(set(experiment.splits.keys("train")))
    needed = [name for name, wanted in resolve_target(counts, config.ratio).items() if wanted > counts[name]]
    folders = []
    for name in needed:
        folder = latest_synthetic_folder(config.out, experiment.dataset.fingerprint, name)
        if folder is None:
            raise UserError(f"--with-gan needs synthetic images of class {name!r}: found no `xgan sample` output for it and "
                            f"dataset {experiment.dataset.name} under {config.out}; run `xgan train` and `xgan sample` first, "
                            "or pass --synthetic DIR or --manifest FILE (written by `xgan balance`)")
        log.info("--with-gan: using %s, the latest `xgan sample` output for %s", folder, name)
        folders.append(folder)
    return tuple(folders)


def check_manifest_dataset(manifest: Path, dataset: Dataset) -> None:
    """Refuse a training manifest whose record (`xgan balance` writes `<manifest>.json` beside it) names another dataset."""
    record_path = manifest.with_suffix(".json")
    if not record_path.is_file():
        return
    try:
        fingerprint = read_json(record_path).get("dataset_fingerprint")
    except (OSError, ValueError, AttributeError):
        return  # the manifest's own rows are still checked against the splits
    if fingerprint and fingerprint != dataset.fingerprint:
        raise UserError(f"{manifest}: made from dataset fingerprint {fingerprint} ({record_path.name}), but {dataset.source} has "
                        f"fingerprint {dataset.fingerprint}; pass the --data the manifest was made from")


def run_arm(arm: str, seed: int, config: ClassifyConfig, experiment: Experiment, run_dir: Path,
            prepared: tuple[LabeledImages, dict | None] | None = None) -> ArmRun:
    """Train one model of `arm` with `seed`, score it on the real test split, save it into `run_dir`.

    Args:
        prepared: the arm's training set for this seed when already built (`training_set`).
    """
    # Imported here: TensorFlow takes seconds to import, and the modules that score and save a model
    # (SciPy, scikit-learn) only once it is trained, so that training starts as early as it can.
    from ..runtime.tensorflow_setup import import_outside_collection

    with import_outside_collection("keras"):
        import keras

        from .train import predict_probabilities, train_classifier

    images, weights = prepared if prepared is not None else training_set(arm, config, experiment, seed)
    check_evaluation_set(experiment.test, experiment.splits, [images, experiment.validation])
    network = config.classifier_config(seed=seed, augment=ARMS[arm].augment, class_names=experiment.class_names,
                                       positive_class=experiment.positive)
    validation = (experiment.validation.images, experiment.targets(experiment.validation))
    result = train_classifier(network, images.images, experiment.targets(images), validation, class_weight=weights,
                              tensorboard_run=run_dir if config.tensorboard else None, strategy=config.strategy)
    if ARMS[arm].fine_tune_on_real:
        result = fine_tune_on_real(result, config, experiment, seed)
    from .metrics import metrics_at_thresholds, multiclass_metrics
    from .formatting import json_ready
    from .saving import VALIDATION_PREDICTIONS, save_classifier
    from .threshold import THRESHOLD_KEY, TTA_THRESHOLD_KEY, choose_threshold

    validation_plain = predict_probabilities(result.model, experiment.validation.images)
    validation_tta = predict_probabilities(result.model, experiment.validation.images, tta=True)
    validation_probabilities = validation_tta if config.tta else validation_plain
    probabilities = predict_probabilities(result.model, experiment.test.images, tta=config.tta)
    if experiment.is_multiclass:
        # A softmax model calls its most probable class: no threshold (the rules of threshold.py are binary).
        thresholds, threshold = {}, None
        metrics = multiclass_metrics(experiment.targets(experiment.test), probabilities, experiment.class_names)
    else:
        # The operating thresholds (plain and with TTA) are chosen on the validation split only: the test
        # split's labels never reach choose_threshold.
        thresholds = {THRESHOLD_KEY: choose_threshold(validation[1], validation_plain, config.target_sensitivity),
                      TTA_THRESHOLD_KEY: {**choose_threshold(validation[1], validation_tta, config.target_sensitivity), "tta": True}}
        threshold = thresholds[TTA_THRESHOLD_KEY if config.tta else THRESHOLD_KEY]["threshold"]
        metrics = metrics_at_thresholds(experiment.test.targets(experiment.positive), probabilities, (experiment.negative, experiment.positive), threshold)
    composition = images.composition()
    save_classifier(run_dir, result.model, network, arm=arm, arm_description=ARMS[arm].description,
                    dataset=str(experiment.dataset.source), dataset_fingerprint=experiment.dataset.fingerprint,
                    splits=str(experiment.splits.path), training_set=composition,
                    class_weight=None if weights is None else {name: weights[index] for index, name in weighted_classes(experiment)},
                    gan_runs=[str(r) for r in images.gan_runs], **thresholds)
    # The pixel hashes of every image the model trained or stopped on, so `xgan evaluate` can leave them out.
    seen = {*images.keys, *experiment.validation.keys} - {None}
    hashes = sorted({h for r, h in zip(experiment.dataset.records, experiment.dataset.content_hashes) if r.key in seen})
    write_json(run_dir / "seen_images.json", {"dataset_fingerprint": experiment.dataset.fingerprint, "content_hashes": hashes})
    write_history(run_dir, result.history)
    if images.rows:  # which images, real, repeated and synthetic, this model trained on: `classify --manifest` takes it back
        write_training_manifest(run_dir / TRAINING_MANIFEST, images.rows)
    write_json(run_dir / "metrics.json", {**json_ready(metrics), "best_epoch": result.best_epoch, "epochs_trained": len(result.history),
                                          "seconds": result.seconds, "evaluated_on": f"test split of {experiment.splits.path}",
                                          "tta": config.tta})
    write_predictions(run_dir / "predictions.csv", experiment.test, probabilities, experiment.positive, experiment.class_names)
    if not experiment.is_multiclass:
        # What an ensemble of saved models needs to choose its own threshold on the same validation images.
        write_predictions(run_dir / VALIDATION_PREDICTIONS, experiment.validation, validation_plain, experiment.positive,
                          extra={f"probability_{experiment.positive}_tta": validation_tta})
    keras.backend.clear_session()  # drops the finished model's graph state before the next one
    called = "the most probable class" if threshold is None else f"threshold {threshold:.3f}"
    log.info("%s seed %d: balanced accuracy %.3f at %s, ROC-AUC %.3f", arm, seed, metrics["balanced_accuracy"], called, metrics["roc_auc"])
    return ArmRun(arm, seed, probabilities, metrics, result.history, result.best_epoch, result.seconds, composition, run_dir,
                  threshold, validation_probabilities)


def fine_tune_on_real(pretrained, config: ClassifyConfig, experiment: Experiment, seed: int):
    """Continue a model trained on the GAN mix on the real training split only, with early stopping on validation.

    Returns:
        A TrainingResult with both stages' epochs in one history (each entry's `stage` says which)
        and the best epoch counted from the start of the first stage.
    """
    from .train import TrainingResult, train_classifier

    network = config.classifier_config(seed=seed, class_names=experiment.class_names, positive_class=experiment.positive,
                                       learning_rate=config.learning_rate * FINETUNE_LEARNING_RATE_FACTOR)
    validation = (experiment.validation.images, experiment.targets(experiment.validation))
    tuned = train_classifier(network, experiment.train.images, experiment.targets(experiment.train), validation,
                             initial_model=pretrained.model, strategy=config.strategy)
    offset = len(pretrained.history)
    history = ([{**entry, "stage": "synthetic mix"} for entry in pretrained.history]
               + [{**entry, "epoch": entry["epoch"] + offset, "stage": "real only"} for entry in tuned.history])
    return TrainingResult(tuned.model, history, offset + tuned.best_epoch, pretrained.seconds + tuned.seconds)



def classify(config: ClassifyConfig) -> ClassifyResult:
    """Train one model, or with `config.compare` every arm over every seed, and write the run folder.

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
    arms = _arms_the_inputs_allow(config, experiment)
    # Every arm's first training set is built before any training: bad input fails in seconds, not minutes. A curated
    # arm's is chosen after the baseline trains; the arm it is `checked_by`, when that runs, has checked the same inputs.
    prepared = {arm: training_set(arm, config, experiment, config.seed) for arm in arms if ARMS[arm].checked_by not in arms}
    check_pretrained_weights(config.backbone, config.size, config.weights)
    # How far each GAN arm's synthetic images are from the real images of their class: the number that predicts harm
    # (a curated arm's once its images are chosen).
    realism = {arm: synthetic_vs_real(prepared[arm][0], seed=config.seed)
               for arm in arms if ARMS[arm].needs_synthetic and not ARMS[arm].curated_by_baseline and config.compare}
    curated = any(ARMS[arm].curated_by_baseline for arm in arms)
    curation, pool = {}, None  # seed -> the baseline's score of every synthetic image (of `pool`, read once), for curated arms
    description = "classify-compare" if config.compare else f"classify-{arms[0]}"
    # A non-chief worker of a multi-worker run trains alike in a temporary folder: the chief alone writes the run.
    with run_parent(config.out, config.strategy) as parent:
        run_dir = new_run_dir(parent, description)
        write_json(run_dir / "options.json", {**config.to_dict(), "dataset_fingerprint": experiment.dataset.fingerprint,
                                              "splits_file": str(experiment.splits.path), "positive_class": experiment.positive,
                                              "arms": arms, "seeds": config.seed_list})
        runs = []
        with progress_bar(len(arms) * len(config.seed_list), "classifier", "model") as bar:
            for arm in arms:
                for seed in config.seed_list:
                    bar.set_description(f"classifier {arm} seed {seed}")
                    if config.compare:
                        folder = run_dir / "arms" / arm / f"seed{seed}"
                    else:
                        folder = run_dir / f"seed{seed}" if len(config.seed_list) > 1 else run_dir
                    arm_set = prepared.pop(arm, None) if seed == config.seed else None
                    if ARMS[arm].curated_by_baseline:
                        arm_set = training_set(arm, config, experiment, seed, curation[seed])
                        if seed == config.seed:
                            realism[arm] = synthetic_vs_real(arm_set[0], seed=config.seed)
                    runs.append(run_arm(arm, seed, config, experiment, folder, arm_set))
                    if arm == BASELINE_ARM and curated:
                        pool = pool or read_synthetic_pool(config.synthetic, config.size)
                        curation[seed] = _baseline_scores(folder, pool, experiment)
                    bar.set_postfix({"balanced_acc": f"{runs[-1].metrics['balanced_accuracy']:.3f}"}, refresh=False)
                    bar.update(1)
        from .compare import compare_arms, seed_ensemble  # after training: SciPy and scikit-learn are slow to import
        from .report import write_compare_report, write_ensemble_report, write_single_report

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
            report["external"] = score_external_sets(externals, runs, experiment, True, config.tta, config.seed, config.target_sensitivity)
            from .explain import explain_comparison

            report["gradcam"] = explain_comparison(runs, experiment, run_dir, config.seed)
            if config.shift_suite:
                from .shift import score_shift_suite

                report["shift_suite"] = score_shift_suite(runs, experiment, config.tta, config.seed, config.target_sensitivity)
            summary = write_compare_report(run_dir, report, runs, experiment)
        elif len(runs) > 1:
            report = seed_ensemble(runs, experiment, config.target_sensitivity)
            report["seconds"], report["tta"] = time.perf_counter() - start, config.tta
            report["external"] = score_external_sets(externals, runs, experiment, False, config.tta, config.seed, config.target_sensitivity)
            summary = write_ensemble_report(run_dir, report, runs, experiment)
        else:
            report = None
            summary = write_single_report(run_dir, runs[0], experiment)
        seconds = time.perf_counter() - start
        return ClassifyResult(run_dir, experiment, runs, report, seconds, f"{summary}{found}\nrun folder {run_dir} ({seconds:.0f} s)")


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
