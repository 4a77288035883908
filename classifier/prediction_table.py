"""predictions.csv: one row per image with its key, true label and the model's probabilities (csv.writer quotes every field)."""

import csv
import io
from pathlib import Path

import numpy as np

from ..runs import write_text
from .data import LabeledImages


def write_predictions(path: Path, images: LabeledImages, probabilities: np.ndarray, positive: str | None,
                      class_names: list[str] | None = None, extra: dict | None = None) -> None:
    """A CSV of key, true label and positive-class probability per image, plus `extra` columns (name -> one value per image).

    With three or more classes (no positive class): the predicted class and one probability column per class.
    Written atomically; keys, labels and class names with commas, quotes or line breaks are quoted by `csv.writer`.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if positive is None:
        writer.writerow(["key", "label", "predicted", *(f"probability_{name}" for name in class_names)])
        for key, label, row in zip(images.keys, images.labels, probabilities):
            writer.writerow([key, label, class_names[int(np.argmax(row))], *(f"{p:.6f}" for p in row)])
    else:
        extra = extra or {}
        writer.writerow(["key", "label", f"probability_{positive}", *extra])
        for index, (key, label, p) in enumerate(zip(images.keys, images.labels, probabilities)):
            writer.writerow([key, label, f"{p:.6f}", *(f"{column[index]:.6f}" for column in extra.values())])
    write_text(path, buffer.getvalue())
