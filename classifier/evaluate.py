"""`xgan evaluate`: score a saved classifier, or an ensemble of them, on every image of a dataset, as test data.

Images any model trained or stopped early on (its run's `seen_images.json`, by pixel hash) are left
out with a warning and a count, so a score never includes an image a model has seen. Images are
called at the threshold stored with the model (chosen on its validation split, never here); the
metrics at 0.5 are reported beside.
"""

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..datasets.dataset import Dataset, load_dataset
from ..errors import UserError
from ..runs import new_run_dir, read_json, write_json
from .data import all_images
from .saving import model_files
from .threshold_records import VALIDATION_RECORD, describe_threshold

log = logging.getLogger("xgan")

SEEN_IMAGES = "seen_images.json"


@dataclass
class EvaluateResult:
    """Metrics of one model on one dataset, and where they were written."""

    metrics: dict
    out: Path
    num_excluded: int
    summary: str


def seen_hashes(model_path: Path) -> set[str]:
    """Pixel hashes of the images a saved model trained or stopped early on (empty if not recorded)."""
    model_file, _ = model_files(model_path)
    path = model_file.parent / SEEN_IMAGES
    if not path.is_file():
        log.warning("%s: no %s beside the model; cannot check that the evaluation images are unseen", model_file, SEEN_IMAGES)
        return set()
    try:
        return set(read_json(path)["content_hashes"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path}: not readable ({error}); expected the hashes of the model's training images") from None


def name_integer_labels(dataset, class_names: list[str]):
    """Give an .npz's bare integer labels (0, 1) the model's class names, in the MedMNIST order (label i = i-th name).

    An .npz without `class_names` whose file name is not a known MedMNIST set has labels "0" and "1";
    the model's sorted class names are what its own .npz labels meant. Logged, never silent.
    """
    if dataset.kind != "npz" or not all(name.isdigit() and int(name) < len(class_names) for name in dataset.class_names):
        return dataset
    names = {name: class_names[int(name)] for name in dataset.class_names}
    log.warning("%s: integer labels read as the model's classes: %s", dataset.source, ", ".join(f"{k} = {v}" for k, v in names.items()))
    records = [replace(record, label=names[record.label]) for record in dataset.records]
    return replace(dataset, records=records, class_names=sorted(set(names.values())))


@dataclass
class ScoredImages:
    """One model (or ensemble) scored on a set of images, as `xgan evaluate` scores it.

    Attributes:
        y_true: 0/1 targets of the positive class, or class indices with three or more classes.
        probabilities: the model's positive-class probabilities (N,), or its softmax (N, classes).
        metrics: every metric at `threshold` (with those at 0.5 beside), or the multi-class metrics.
        threshold: the threshold record used (None for a softmax model, which calls its most probable class).
    """

    y_true: np.ndarray
    probabilities: np.ndarray
    metrics: dict
    threshold: dict | None


def known_classes(dataset, class_names: list[str], data) -> Dataset:
    """`dataset` with bare integer labels named as the model's classes; refused when it holds a class the model does not know.

    Raises:
        UserError: naming `data` and the first unknown class.
    """
    dataset = name_integer_labels(dataset, class_names)
    unknown = [name for name in dataset.class_names if name not in class_names]
    if unknown:
        raise UserError(f"{data}: class {unknown[0]!r} is not one the model knows ({', '.join(class_names)}); "
                        "name the class folders (or labels) as in the training data")
    return dataset


def unseen_images(dataset, seen: set[str], data):
    """Every image of `dataset` whose pixel hash is not in `seen`, and how many were left out (warned, never silent).

    Raises:
        UserError: when every image was seen.
    """
    images = all_images(dataset)
    keep = np.array([h not in seen for h in dataset.content_hashes], bool)
    num_excluded = int((~keep).sum())
    if num_excluded:
        log.warning("%s: left out %d of %d image(s) that the model trained or stopped early on", data, num_excluded, len(keep))
    if not keep.any():
        raise UserError(f"{data}: the model trained or stopped early on every one of its {len(keep)} images; evaluate it on held-out images")
    images.images = images.images[keep]
    images.labels = [label for label, k in zip(images.labels, keep) if k]
    images.keys = [key for key, k in zip(images.keys, keep) if k]
    images.origins = ["real"] * len(images.labels)
    return images, num_excluded


def score_images(ensemble, images, tta: bool = False, threshold_record: str | None = None) -> ScoredImages:
    """Score `images` with a loaded ensemble (one model or several) at its stored threshold: the one code path of
    `xgan evaluate` and of the external sets of `xgan classify`.

    Args:
        threshold_record: the name of a threshold record beside the model(s) (`xgan calibrate`); None: the stored
            validation threshold.
    """
    from .metrics import metrics_at_thresholds, multiclass_metrics

    config = ensemble.config
    probabilities = ensemble.probabilities(images.images, tta=tta)
    y_true = images.model_targets(config.positive_class, config.class_names)
    if config.is_multiclass:
        return ScoredImages(y_true, probabilities, multiclass_metrics(y_true, probabilities, tuple(config.class_names)), None)
    threshold = ensemble.threshold(tta, record=threshold_record)
    metrics = metrics_at_thresholds(y_true, probabilities, (config.negative_class, config.positive_class), threshold["threshold"])
    return ScoredImages(y_true, probabilities, metrics, threshold)


def evaluate_model(model_path, data: Path, out: Path | None = None, parent: Path = Path("samples"), tta: bool = False,
                   threshold_record: str | None = None) -> EvaluateResult:
    """Score a saved classifier (or the ensemble of several) on every image of `data`; write metrics.json, predictions.csv and plots.

    The summary and metrics.json say which threshold record the images were called at.

    Args:
        model_path: a classifier run folder or its model.keras, a folder of seeds, or a list of these
            (see `ensemble.find_models`): several models are scored as their ensemble.
        data: a class-per-folder directory, a manifest.csv, or an .npz (e.g. with test_* keys only).
        out: the folder to write into; None makes a new `parent/NNNNN-evaluate/`.
        tta: average each model over the test-time augmentation views, at its TTA threshold.
        threshold_record: call images at this threshold record (`xgan calibrate --name`) instead of the validation one.

    Raises:
        UserError: a missing model, a dataset with a class the model does not know, or a dataset
            whose every image the model has seen.
    """
    from .figures import plot_confusion_matrices, plot_one_vs_rest_roc_curves, plot_roc_curves
    from .formatting import format_metrics, json_ready
    from .prediction_table import write_predictions
    from .ensemble import load_ensemble

    ensemble = load_ensemble(model_path if isinstance(model_path, (list, tuple)) else [model_path])
    config, details = ensemble.config, ensemble.details[0]
    if config.is_multiclass and threshold_record is not None:
        raise UserError(f"--threshold-record {threshold_record}: the model calls the most probable of its {len(config.class_names)} classes; "
                        "it has no threshold to choose")
    dataset = known_classes(load_dataset(data, config.image_size), config.class_names, data)
    seen = set().union(*(seen_hashes(path) for path in ensemble.paths))
    if threshold_record is not None:  # a site's record is checked before any image is read; its slice is left out like training images
        seen |= set(ensemble.threshold(tta, record=threshold_record).get("content_hashes", ()))
    images, num_excluded = unseen_images(dataset, seen, data)
    scored = score_images(ensemble, images, tta, threshold_record)
    probabilities, y_true, metrics = scored.probabilities, scored.y_true, scored.metrics
    threshold = None if scored.threshold is None else {k: v for k, v in scored.threshold.items() if k != "content_hashes"}
    names = tuple(config.class_names) if config.is_multiclass else (config.negative_class, config.positive_class)
    out = Path(out) if out is not None else new_run_dir(parent, "evaluate")
    out.mkdir(parents=True, exist_ok=True)
    models = [str(path) for path in ensemble.paths]
    write_json(out / "metrics.json", {**json_ready(metrics), "model": models[0] if len(models) == 1 else models, "num_models": len(models),
                                      "decision_threshold": threshold,
                                      "threshold_record": None if threshold is None else threshold.get("record", VALIDATION_RECORD), "tta": tta, "data": str(dataset.source),
                                      "dataset_fingerprint": dataset.fingerprint, "num_excluded_seen": num_excluded,
                                      "trained_on": details.get("dataset"), "arm": details.get("arm")})
    write_predictions(out / "predictions.csv", images, probabilities, config.positive_class, config.class_names)
    title = f"{details.get('arm') or 'model'}{f' ensemble of {len(models)}' if len(models) > 1 else ''} on {dataset.name}"
    if config.is_multiclass:
        plot_one_vs_rest_roc_curves(out / "roc_curve.png", y_true, {title: probabilities}, list(names))
    else:
        plot_roc_curves(out / "roc_curve.png", y_true, {title: probabilities[None]}, config.positive_class)
    plot_confusion_matrices(out / "confusion_matrix.png", {title: np.asarray(metrics["confusion_matrix"]["matrix"])}, list(names), 1)
    excluded = f", {num_excluded} seen image(s) left out" if num_excluded else ""
    if config.is_multiclass:
        counts = ", ".join(f"{n} {name}" for name, n in metrics["num_per_class"].items())
        how = "the most probable class"
    else:
        counts = f"{int(y_true.sum())} {config.positive_class}"
        how = f"threshold {threshold['threshold']:.3f} ({describe_threshold(threshold)})"
    who = models[0] if len(models) == 1 else f"ensemble of {len(models)} models ({', '.join(models)})"
    title = f"{who} on {dataset.source}: {len(y_true)} image(s) ({counts}){excluded}; {how}{', with TTA' if tta else ''}"
    summary = f"{format_metrics(metrics, title)}\nwrote {out}"
    return EvaluateResult(metrics, out, num_excluded, summary)
