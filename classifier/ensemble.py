"""Several saved classifiers scored as one: the mean of their probabilities, at a threshold chosen on validation.

`xgan evaluate` and `xgan predict` take one or more `--model`s, each a model file, a model folder,
a folder of seeds (`seed0/`, `seed1/`, ... as `xgan classify --seeds N` writes) or a comparison's arm
folder (`arms/<arm>/`). Every model found is a member; one member is scored exactly as before.

The ensemble's threshold: one member's own (stored in its config.json); for several, the threshold
chosen by the members' rule on the mean of their validation probabilities (each model folder keeps
them in `validation_predictions.csv`), so an ensemble is called the way `xgan classify` scored it.
Models without those files (older runs, or validation splits that differ) fall back to the mean of
the members' thresholds, with a warning.
"""

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from .config import ClassifierConfig
from .saving import MODEL_FILE, VALIDATION_PREDICTIONS, load_classifier, load_classifier_config, model_files
from .threshold import choose_threshold, stored_threshold
from .threshold_records import VALIDATION_RECORD, read_record, record_path

log = logging.getLogger("xgan")


def find_models(paths) -> list[Path]:
    """The model files behind `--model` paths, in order, without repeats.

    Raises:
        UserError: a path without a model, or a comparison folder holding several arms (which must
            not be averaged together: they are what the comparison sets against each other).
    """
    found = []
    for path in map(Path, paths):
        if path.is_dir() and not (path / MODEL_FILE).is_file():
            seeds = sorted(path.glob(f"seed*/{MODEL_FILE}"), key=lambda p: (len(p.parent.name), p.parent.name))
            arms = sorted({p.parent.parent.name for p in path.glob(f"arms/*/seed*/{MODEL_FILE}")})
            if not seeds and len(arms) > 1:
                raise UserError(f"{path}: a comparison of {len(arms)} arms ({', '.join(arms)}); pass one arm's folder, e.g. --model {path / 'arms' / arms[0]}")
            if not seeds and arms:
                seeds = sorted(path.glob(f"arms/{arms[0]}/seed*/{MODEL_FILE}"), key=lambda p: (len(p.parent.name), p.parent.name))
            if seeds:
                found += seeds
                continue
        found.append(model_files(path)[0])
    return list(dict.fromkeys(p.resolve() for p in found))


@dataclass
class Ensemble:
    """Saved classifiers that agree on input size and classes.

    Attributes:
        paths: the members' model files.
        config: the first member's ClassifierConfig (all members share its size and classes).
        details: every member's whole config.json.
    """

    paths: list[Path]
    config: ClassifierConfig
    details: list[dict]

    def __len__(self) -> int:
        return len(self.paths)

    def probabilities(self, images: np.ndarray, tta: bool = False) -> np.ndarray:
        """The mean of the members' positive-class probabilities, (N,); one member's own when alone."""
        from .train import predict_probabilities

        return np.mean([predict_probabilities(load_classifier(path), images, tta=tta) for path in self.paths], axis=0)

    def threshold(self, tta: bool = False, record: str | None = None) -> dict:
        """The decision threshold record: the member's own, or the one chosen on the members' mean validation probabilities.

        Args:
            record: a record `xgan calibrate` wrote beside the model(s); None or "validation": the validation one.

        Raises:
            UserError: a record missing beside a member, or one calibrated for another set of models.
        """
        if record is not None and record != VALIDATION_RECORD:
            return self._calibrated_threshold(record, tta)
        records = [stored_threshold(details, tta) for details in self.details]
        if len(self) == 1:
            return records[0]
        validation = [read_validation_predictions(path.parent / VALIDATION_PREDICTIONS, self.config.positive_class, tta) for path in self.paths]
        if all(v is not None for v in validation) and all(v[0] == validation[0][0] for v in validation):
            keys, labels, _ = validation[0]
            probability = np.mean([v[2] for v in validation], axis=0)
            target = self.details[0].get("target_sensitivity")
            record = choose_threshold(labels, probability, target)
            return {**record, "fitted_on": f"validation (mean of the {len(self)} models' probabilities)"}
        log.warning("the %d models do not share stored validation predictions (%s); the ensemble uses the mean of their thresholds",
                    len(self), VALIDATION_PREDICTIONS)
        return {"threshold": float(np.mean([r["threshold"] for r in records])), "method": "mean of the models' thresholds",
                "target_sensitivity": None, "fitted_on": "validation (each model's own)"}

    def _calibrated_threshold(self, name: str, tta: bool) -> dict:
        records = [read_record(path, name, tta) for path in self.paths]
        members = sorted(str(path) for path in self.paths)
        for path, record in zip(self.paths, records):
            if sorted(record.get("members") or [str(path)]) != members:
                raise UserError(f"{record_path(path, name)}: calibrated for {len(record.get('members') or [path])} model(s) "
                                f"({', '.join(record.get('members') or [str(path)])}), not this set of {len(self)}; "
                                "calibrate these models together with `xgan calibrate`")
        return records[0]


def load_ensemble(paths) -> Ensemble:
    """The ensemble of every model behind `paths` (see `find_models`).

    Raises:
        UserError: no model, or models that differ in image size, classes or positive class.
    """
    model_paths = find_models(paths)
    if not model_paths:
        raise UserError("no model given; pass --model with a classifier run folder or its model.keras")
    loaded = [load_classifier_config(path) for path in model_paths]
    first = loaded[0][0]
    for path, (config, _) in zip(model_paths[1:], loaded[1:]):
        mine = (config.image_size, config.class_names, config.positive_class)
        theirs = (first.image_size, first.class_names, first.positive_class)
        if mine != theirs:
            raise UserError(f"{path}: image size, classes and positive class {mine} differ from {model_paths[0]}'s {theirs}; "
                            "an ensemble needs models of the same task")
    return Ensemble(model_paths, first, [details for _, details in loaded])


def read_validation_predictions(path: Path, positive: str, tta: bool = False):
    """(keys, 0/1 labels, probabilities) from a model's validation_predictions.csv; None when missing or without the column."""
    column = f"probability_{positive}" + ("_tta" if tta else "")
    if not path.is_file():
        return None
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        return ([row["key"] for row in rows], np.array([row["label"] == positive for row in rows], np.int64),
                np.array([float(row[column]) for row in rows]))
    except (OSError, KeyError, ValueError):
        return None
