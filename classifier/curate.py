"""Curating synthetic images by a real-only classifier's confidence (arm gan_curated, `xgan balance --curate`).

A classifier trained on real training images only scores every synthetic image with its probability
of the class the image was generated for; balancing then takes each class's best-scoring images
instead of a seeded random choice (`balance.build_training_set(synthetic_scores=...)`). Only
synthetic images are scored: no validation or test image, and no label of one, is involved.
"""

import logging
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..images import read_gray, resize_square
from ..runs import read_synthetic_folder

log = logging.getLogger("xgan")


def curation_scores(model, folders, image_size: int, class_names: list[str], positive: str | None) -> dict[Path, float]:
    """The probability `model` gives every synthetic image of `folders` for its own class.

    Args:
        model: a classifier (sigmoid output for `positive`, or softmax over `class_names`).
        folders: synthetic folders written by `xgan sample` (every row labelled).
        image_size: the classifier's input side; images are resized as for training.
        class_names: the classifier's classes, in output order.
        positive: the sigmoid's class; None for a softmax model.

    Returns:
        `{image path: score}`, higher for images the classifier finds more typical of their class.

    Raises:
        UserError: an image of a class the classifier does not know, or an unreadable image.
    """
    from .train import predict_probabilities

    images = [image for folder in folders for image in read_synthetic_folder(folder).images]
    unknown = next((image for image in images if image.label not in class_names), None)
    if unknown is not None:
        raise UserError(f"{unknown.path}: a synthetic image of class {unknown.label!r}; the curating classifier knows "
                        f"{', '.join(class_names)} only")
    pixels = np.zeros((len(images), image_size, image_size), np.uint8)
    for index, image in enumerate(images):
        try:
            pixels[index] = resize_square(read_gray(image.path), image_size)
        except (OSError, ValueError) as error:
            raise UserError(f"synthetic image {image.path}: cannot be read ({error})") from None
    probabilities = predict_probabilities(model, pixels)
    if positive is None:
        scores = probabilities[np.arange(len(images)), [class_names.index(image.label) for image in images]]
    else:
        scores = np.where([image.label == positive for image in images], probabilities, 1.0 - probabilities)
    return {image.path: float(score) for image, score in zip(images, scores)}


def saved_curation_scores(model_dir: Path, folders, dataset_fingerprint: str) -> dict[Path, float]:
    """`curation_scores` with a classifier that `xgan classify` saved, after checking it may curate.

    Raises:
        UserError: no classifier there, one trained on another dataset, or one that trained on
            synthetic images (curation asks a classifier of real images only).
    """
    from .saving import load_classifier, load_classifier_config

    config, details = load_classifier_config(model_dir)
    if details.get("dataset_fingerprint") not in (None, dataset_fingerprint):
        raise UserError(f"{model_dir}: trained on dataset fingerprint {details['dataset_fingerprint']}, not this dataset's "
                        f"{dataset_fingerprint}; curate with a classifier of the same dataset")
    if details.get("gan_runs"):
        raise UserError(f"{model_dir}: trained on synthetic images (arm {details.get('arm')}); curation needs a classifier "
                        "trained on real images only, e.g. the baseline arm of `xgan classify --compare`")
    return curation_scores(load_classifier(model_dir), folders, config.image_size, list(config.class_names), config.positive_class)


def curation_summary(scores: dict[Path, float], chosen: list[Path], labels: dict[Path, str]) -> dict[str, dict]:
    """Per class: how many images were scored and kept, and the mean score of each group."""
    summary = {}
    kept = set(chosen)
    for label in sorted(set(labels.values())):
        paths = [path for path, name in labels.items() if name == label]
        kept_scores = [scores[path] for path in paths if path in kept]
        summary[label] = {"pool": len(paths), "kept": len(kept_scores),
                          "mean_score_pool": float(np.mean([scores[path] for path in paths])),
                          "mean_score_kept": float(np.mean(kept_scores)) if kept_scores else None}
    return summary
