"""`xgan calibrate`: re-choose a saved classifier's threshold on a labelled slice of a new site's images.

A threshold chosen on the training source's validation split does not transfer to another hospital's
films (issue 20 measured sensitivity for normal films falling from 0.96 to 0.63-0.75 at it). A site
with a small labelled slice can adopt the model without retraining: the same rule (Youden's J, or the
model's target sensitivity) is applied to the model's probabilities on the slice, and the result is
written as a new record `thresholds/<name>.json` beside the model. The original record in config.json
is never changed; `xgan evaluate --threshold-record NAME` and `xgan predict --threshold-record NAME`
call images at the new one, and evaluate leaves out the slice's own images when it does.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..datasets.dataset import load_dataset
from ..errors import UserError
from ..runs import write_json
from .evaluate import known_classes, seen_hashes, unseen_images
from .threshold import choose_threshold
from .threshold_records import VALIDATION_RECORD, check_record_name, describe_threshold, record_path

log = logging.getLogger("xgan")


@dataclass
class CalibrateResult:
    """The new record, where it was written, and the lines the command prints."""

    record: dict
    paths: list[Path]
    summary: str


def calibrate_model(model_path, data: Path, name: str, target_sensitivity: float | None = None, tta: bool = False,
                    overwrite: bool = False) -> CalibrateResult:
    """Choose a saved binary classifier's (or ensemble's) threshold on the labelled images of `data`; store it as record `name`.

    Args:
        model_path: a model folder or file, a folder of seeds, or a list of these (an ensemble: one record
            written beside every member, naming them all).
        data: the site's labelled slice: a class-per-folder directory, a manifest.csv or an .npz.
        name: the record's name (e.g. the site's).
        target_sensitivity: None: the rule the model's validation threshold used; else the sensitivity to reach on the slice.
        tta: choose the threshold for predictions with test-time augmentation.
        overwrite: replace an earlier record of the same name (the validation record is never replaced).

    Raises:
        UserError: a softmax model (no threshold), a bad or reserved name, an existing record without
            `overwrite`, a class the model does not know, or a slice without both classes.
    """
    from .ensemble import load_ensemble

    check_record_name(name)
    if name == VALIDATION_RECORD:
        raise UserError(f"--name {name}: reserved for the threshold chosen on the model's validation split (kept in config.json); choose another")
    ensemble = load_ensemble(model_path if isinstance(model_path, (list, tuple)) else [model_path])
    config = ensemble.config
    if config.is_multiclass:
        raise UserError(f"{ensemble.paths[0]}: a model of {len(config.class_names)} classes calls the most probable one; it has no threshold to calibrate")
    paths = [record_path(path, name) for path in ensemble.paths]
    existing = [path for path in paths if path.exists()]
    if existing and not overwrite:
        raise UserError(f"{existing[0]}: a threshold record {name!r} exists; choose another --name or pass --overwrite")
    dataset = known_classes(load_dataset(data, config.image_size), config.class_names, data)
    seen = set().union(*(seen_hashes(path) for path in ensemble.paths))
    images, num_excluded = unseen_images(dataset, seen, data)
    y_true = images.targets(config.positive_class)
    if y_true.all() or not y_true.any():
        present = config.positive_class if y_true.any() else config.negative_class
        raise UserError(f"{data}: every image is {present}; a threshold needs labelled images of both {config.positive_class} and {config.negative_class}")
    previous = ensemble.threshold(tta)
    if target_sensitivity is None and previous.get("method") == "target_sensitivity":
        target_sensitivity = previous.get("target_sensitivity")
    probabilities = ensemble.probabilities(images.images, tta=tta)
    chosen = choose_threshold(y_true, probabilities, target_sensitivity)
    kept = set(images.keys)
    hashes = sorted({h for h, r in zip(dataset.content_hashes, dataset.records) if r.key in kept})
    record = {**chosen, "fitted_on": f"{dataset.source} (xgan calibrate)", "tta": tta, "data": str(dataset.source),
              "data_fingerprint": dataset.fingerprint, "num_excluded_seen": num_excluded,
              "members": [str(path) for path in ensemble.paths], "replaces_for_this_site": previous,
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "content_hashes": hashes}
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, record)
    from .metrics import metrics_at_thresholds

    names = (config.negative_class, config.positive_class)
    before = metrics_at_thresholds(y_true, probabilities, names, previous["threshold"])
    after = metrics_at_thresholds(y_true, probabilities, names, chosen["threshold"])
    excluded = f", {num_excluded} seen image(s) left out" if num_excluded else ""
    lines = [f"threshold record {name!r}: {chosen['threshold']:.3f} ({chosen['method']}) chosen on {len(y_true)} image(s) of {dataset.source} "
             f"({int(y_true.sum())} {config.positive_class}){excluded}; the validation record's was {previous['threshold']:.3f} "
             f"({describe_threshold(previous)})",
             "on the slice itself (the images the threshold was fitted on: optimistic for the new one): "
             + "; ".join(f"{label} {before[m]:.3f} -> {after[m]:.3f}" for m, label in
                         (("sensitivity", "sensitivity"), ("specificity", "specificity"), ("balanced_accuracy", "balanced accuracy"))),
             f"use it with `xgan evaluate --threshold-record {name}` or `xgan predict --threshold-record {name}` (evaluate leaves out "
             "the slice's images); the validation record is unchanged",
             *[f"wrote {path}" for path in paths]]
    return CalibrateResult({k: v for k, v in record.items() if k != "content_hashes"}, paths, "\n".join(lines))
