"""`xgan predict`: the class and its probability for each image file, from a saved classifier."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..images import read_gray, resize_square
from .saving import load_classifier, load_classifier_config


@dataclass(frozen=True)
class Prediction:
    """The model's call on one image.

    Attributes:
        path: the image file.
        predicted_class: the class called (the positive one when its probability is at least 0.5; the
            most probable one for a model of three or more classes).
        probability: the probability of `predicted_class`.
        positive_probability: the probability of the model's positive class (None without one).
        class_probabilities: every class's probability, for a model of three or more classes.
    """

    path: Path
    predicted_class: str
    probability: float
    positive_probability: float | None
    class_probabilities: dict[str, float] | None = None


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


def predict_images(model_path: Path, paths) -> list[Prediction]:
    """Class and probability for every image in `paths`; all files are checked before the model loads.

    Raises:
        UserError: no image given, a bad image path, or a missing or unreadable model.
    """
    from .train import predict_probabilities

    paths = [Path(p) for p in paths]
    if not paths:
        raise UserError("no image given; pass one or more image files")
    config, _ = load_classifier_config(model_path)
    images = read_images(paths, config.image_size)
    probabilities = predict_probabilities(load_classifier(model_path), images)
    if config.is_multiclass:
        return [Prediction(path, config.class_names[int(np.argmax(row))], float(np.max(row)), None,
                           {name: float(p) for name, p in zip(config.class_names, row)})
                for path, row in zip(paths, probabilities)]
    predictions = []
    for path, positive_probability in zip(paths, probabilities):
        positive = positive_probability >= 0.5
        predictions.append(Prediction(path, config.positive_class if positive else config.negative_class,
                                      float(positive_probability if positive else 1 - positive_probability), float(positive_probability)))
    return predictions


def format_predictions(predictions: list[Prediction]) -> str:
    """One line per image: path, class, probability of that class."""
    width = max(len(str(p.path)) for p in predictions)
    return "\n".join(f"{str(p.path):<{width}}  {p.predicted_class}  {p.probability:.3f}" for p in predictions)
