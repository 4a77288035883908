"""`xgan predict`: the class and its probability for each image file, from a saved classifier."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..datasets.images import read_gray, resize_square
from .threshold_records import VALIDATION_RECORD


@dataclass(frozen=True)
class Prediction:
    """The model's call on one image.

    Attributes:
        path: the image file.
        predicted_class: the class called: the positive one when its probability is at least `threshold`
            (the most probable one for a model of three or more classes).
        probability: the probability of `predicted_class`.
        positive_probability: the probability of the model's positive class (None without one).
        class_probabilities: every class's probability, for a model of three or more classes.
        threshold: the decision threshold of a binary model (by default the one chosen on its validation split).
        threshold_record: the name of the threshold record it came from ("validation", or one `xgan calibrate` wrote).
    """

    path: Path
    predicted_class: str
    probability: float
    positive_probability: float | None
    class_probabilities: dict[str, float] | None = None
    threshold: float | None = None
    threshold_record: str | None = None


def read_images(paths, size: int) -> np.ndarray:
    """Read image files as (N, size, size) uint8 gray.

    Raises:
        UserError: naming the first path that is missing, a folder, or not a readable image.
    """
    images = []
    for path in map(Path, paths):
        if not path.exists():
            raise UserError(f"{path}: no such image file")
        if not path.is_file():
            raise UserError(f"{path}: not a file; expected an image (PNG, JPEG, BMP, TIFF or DICOM)")
        try:
            images.append(resize_square(read_gray(path), size))
        except (OSError, ValueError) as error:
            raise UserError(f"{path}: {error}") from None
    return np.stack(images) if images else np.zeros((0, size, size), np.uint8)


def predict_images(model_path, paths, tta: bool = False, threshold_record: str | None = None) -> list[Prediction]:
    """Class and probability for every image in `paths`; all files are checked before the models load.

    Args:
        model_path: a classifier run folder or model file, a folder of seeds, or a list of these;
            several models predict as their ensemble (mean probability, the ensemble's threshold).
        paths: image files.
        tta: average over the test-time augmentation views, at the TTA threshold.
        threshold_record: call at this record (`xgan calibrate --name`) instead of the validation one.

    Raises:
        UserError: no image given, a bad image path, or a missing or unreadable model.
    """
    from .ensemble import load_ensemble

    paths = [Path(p) for p in paths]
    if not paths:
        raise UserError("no image given; pass one or more image files")
    ensemble = load_ensemble(model_path if isinstance(model_path, (list, tuple)) else [model_path])
    config = ensemble.config
    if config.is_multiclass and threshold_record is not None:
        raise UserError(f"--threshold-record {threshold_record}: the model calls the most probable of its {len(config.class_names)} classes; "
                        "it has no threshold to choose")
    record = None if config.is_multiclass else ensemble.threshold(tta, record=threshold_record)  # a missing record fails before reading
    images = read_images(paths, config.image_size)
    probabilities = ensemble.probabilities(images, tta=tta)
    if config.is_multiclass:
        return [Prediction(path, config.class_names[int(np.argmax(row))], float(np.max(row)), None,
                           {name: float(p) for name, p in zip(config.class_names, row)})
                for path, row in zip(paths, probabilities)]
    threshold, record_name = record["threshold"], record.get("record", VALIDATION_RECORD)
    predictions = []
    for path, positive_probability in zip(paths, probabilities):
        positive = positive_probability >= threshold
        predictions.append(Prediction(path, config.positive_class if positive else config.negative_class,
                                      float(positive_probability if positive else 1 - positive_probability), float(positive_probability),
                                      threshold=float(threshold), threshold_record=record_name))
    return predictions


def format_predictions(predictions: list[Prediction]) -> str:
    """One line per image: path, class, probability of that class, and the threshold it was called at (binary models)."""
    width = max(len(str(p.path)) for p in predictions)
    return "\n".join(f"{str(p.path):<{width}}  {p.predicted_class}  {p.probability:.3f}"
                     + ("" if p.threshold is None else f"  (threshold {p.threshold:.3f}, record {p.threshold_record})") for p in predictions)
