"""One model of one arm and seed: trained, scored on the real test split, and saved with everything that describes it."""

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..balance import write_training_manifest
from ..runs import write_history, write_json
from .arms import ARMS, FINETUNE_LEARNING_RATE_FACTOR, training_set, weighted_classes
from .classify_config import ClassifyConfig
from .data import LabeledImages, check_evaluation_set
from .experiment import Experiment
from .prediction_table import write_predictions

log = logging.getLogger("xgan")

TRAINING_MANIFEST = "training_manifest.csv"  # beside a model trained on a built set (oversampling, GAN arms)
FINISHED_RECORD = "finished_model.npz"  # written last into a model's folder: what `run_arm` returned, read back on resume


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


def run_arm(arm: str, seed: int, config: ClassifyConfig, experiment: Experiment, run_dir: Path,
            prepared: tuple[LabeledImages, dict | None] | None = None, realism: dict | None = None) -> ArmRun:
    """Train one model of `arm` with `seed`, score it on the real test split, save it into `run_dir` (`train_arm_model`)."""
    return train_arm_model(arm, seed, config, experiment, run_dir, prepared, realism)[0]


def train_arm_model(arm: str, seed: int, config: ClassifyConfig, experiment: Experiment, run_dir: Path,
                    prepared: tuple[LabeledImages, dict | None] | None = None, realism: dict | None = None) -> tuple:
    """`run_arm`, and the trained model (what was saved): (ArmRun, keras.Model), for a caller that scores it further.

    Train one model of `arm` with `seed`, score it on the real test split, save it into `run_dir`.

    Training saves its state in `run_dir` after every epoch and continues from it when it is there (an interrupted
    run resumed, `epoch_state.py`); the state goes once the folder is complete, with `FINISHED_RECORD` last.

    Args:
        prepared: the arm's training set for this seed when already built (`training_set`).
        realism: the arm's synthetic-vs-real measure when it was measured for this model, kept in `FINISHED_RECORD`.
    """
    # Imported here: TensorFlow takes seconds to import, and the modules that score and save a model
    # (SciPy, scikit-learn) only once it is trained, so that training starts as early as it can.
    from ..runtime.tensorflow_setup import import_outside_collection

    with import_outside_collection("keras"):
        import keras

        from .train import predict_probabilities, train_classifier

    images, weights = prepared if prepared is not None else training_set(arm, config, experiment, seed)
    del prepared  # `images` alone holds the set now: a caller that handed it over without keeping it lets it go below
    check_evaluation_set(experiment.test, experiment.splits, [images, experiment.validation])
    network = config.classifier_config(seed=seed, augment=ARMS[arm].augment, class_names=experiment.class_names,
                                       positive_class=experiment.positive)
    validation = (experiment.validation.images, experiment.targets(experiment.validation))
    checkpoint = None
    if config.strategy == "default" and not network.freeze_epochs:
        from .epoch_state import CHECKPOINT_FILE, training_fingerprint

        checkpoint = (run_dir / CHECKPOINT_FILE, training_fingerprint(network.to_dict(), arm, seed, experiment.dataset.fingerprint,
                                                                      images.composition(), len(images.images), weights))
    result = train_classifier(network, images.images, experiment.targets(images), validation, class_weight=weights,
                              tensorboard_run=run_dir if config.tensorboard else None, strategy=config.strategy, checkpoint=checkpoint)
    # What follows needs the set's description, not its pixels (a GAN arm's copy of every image): they go before
    # the real-only fine-tuning and the scoring, so that no later stage holds two sets' pixels at once.
    images = replace(images, images=np.empty((0,), np.uint8))
    if ARMS[arm].fine_tune_on_real:
        result = fine_tune_on_real(result, config, experiment, seed)
    from .metrics import metrics_at_thresholds, multiclass_metrics
    from .formatting import json_ready
    from .saving import VALIDATION_PREDICTIONS, save_classifier
    from .threshold import THRESHOLD_KEY, TTA_THRESHOLD_KEY, choose_threshold

    validation_plain = result.validation_outputs  # computed by early stopping at the best epoch
    if validation_plain is None:
        validation_plain = predict_probabilities(result.model, experiment.validation.images)
    validation_tta = predict_probabilities(result.model, experiment.validation.images, tta=True, plain=validation_plain)
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
    run = ArmRun(arm, seed, probabilities, metrics, result.history, result.best_epoch, result.seconds, composition, run_dir,
                 threshold, validation_probabilities)
    write_finished_record(run, realism)
    if checkpoint is not None:
        checkpoint[0].unlink(missing_ok=True)
    return run, result.model


def write_finished_record(run: ArmRun, realism: dict | None = None) -> None:
    """`FINISHED_RECORD` in the model's folder: the ArmRun (and its realism measure) exactly, for `read_finished_record`."""
    import json

    from ..runs import atomic_path

    record = {"arm": run.arm, "seed": run.seed, "metrics": run.metrics, "history": run.history, "best_epoch": run.best_epoch,
              "seconds": run.seconds, "training_set": run.training_set, "threshold": run.threshold, "realism": realism}
    arrays = {"probabilities": np.asarray(run.probabilities)}
    if run.validation_probabilities is not None:
        arrays["validation_probabilities"] = np.asarray(run.validation_probabilities)
    arrays["record"] = np.array(json.dumps(record, default=_plain_number))  # NaN kept: Python's json reads it back
    with atomic_path(run.run_dir / FINISHED_RECORD) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)


def read_finished_record(folder: Path) -> tuple[ArmRun, dict | None] | None:
    """(ArmRun, realism) of the finished model in `folder`, as `run_arm` returned it; None when it did not finish."""
    import json

    path = Path(folder) / FINISHED_RECORD
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as saved:
        record = json.loads(str(saved["record"]))
        probabilities = saved["probabilities"]
        validation = saved["validation_probabilities"] if "validation_probabilities" in saved.files else None
    realism = record.pop("realism")
    return ArmRun(probabilities=probabilities, validation_probabilities=validation, run_dir=Path(folder), **record), realism


def _plain_number(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


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
