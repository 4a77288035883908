"""Curating synthetic images by a real-only classifier's confidence (arm gan_curated, `xgan balance --curate`).

A classifier trained on real training images only scores every synthetic image with its probability
of the class the image was generated for; balancing then takes each class's best-scoring images
instead of a seeded random choice (`balance.build_training_set(synthetic_scores=...)`). Only
synthetic images are scored: no validation or test image, and no label of one, is involved.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..datasets.dataset import Dataset
from ..datasets.images import read_gray, resize_square
from ..runs import SyntheticImage, read_synthetic_folder


@dataclass
class SyntheticPool:
    """Every synthetic image of some folders, read once at a classifier's input size.

    Attributes:
        images: the images, in folder and manifest order.
        pixels: (N, size, size) uint8, resized as for training.
    """

    images: list[SyntheticImage]
    pixels: np.ndarray


def read_synthetic_pool(folders, image_size: int) -> SyntheticPool:
    """The synthetic images of `folders` (written by `xgan sample`, every row labelled) at `image_size`.

    Raises:
        UserError: a folder `read_synthetic_folder` refuses, or an unreadable image.
    """
    images = [image for folder in folders for image in read_synthetic_folder(folder).images]
    pixels = np.zeros((len(images), image_size, image_size), np.uint8)
    for index, image in enumerate(images):
        try:
            pixels[index] = resize_square(read_gray(image.path), image_size)
        except (OSError, ValueError) as error:
            raise UserError(f"synthetic image {image.path}: cannot be read ({error})") from None
    return SyntheticPool(images, pixels)


def curation_scores(model, pool: SyntheticPool, class_names: list[str], positive: str | None) -> dict[Path, float]:
    """The probability `model` gives every image of `pool` for its own class.

    Args:
        model: a classifier (sigmoid output for `positive`, or softmax over `class_names`) whose input
            size is the pool's.
        pool: the synthetic images (`read_synthetic_pool`).
        class_names: the classifier's classes, in output order.
        positive: the sigmoid's class; None for a softmax model.

    Returns:
        `{image path: score}`, higher for images the classifier finds more typical of their class.

    Raises:
        UserError: an image of a class the classifier does not know.
    """
    from .train import predict_probabilities

    unknown = next((image for image in pool.images if image.label not in class_names), None)
    if unknown is not None:
        raise UserError(f"{unknown.path}: a synthetic image of class {unknown.label!r}; the curating classifier knows "
                        f"{', '.join(class_names)} only")
    probabilities = predict_probabilities(model, pool.pixels)
    if positive is None:
        scores = probabilities[np.arange(len(pool.images)), [class_names.index(image.label) for image in pool.images]]
    else:
        scores = np.where([image.label == positive for image in pool.images], probabilities, 1.0 - probabilities)
    return {image.path: float(score) for image, score in zip(pool.images, scores)}


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
    pool = read_synthetic_pool(folders, config.image_size)
    return curation_scores(load_classifier(model_dir), pool, list(config.class_names), config.positive_class)


def curation_scorer(model_dir: Path | None, folders) -> Callable[[Dataset], dict[Path, float]] | None:
    """The `score_synthetic` argument of `balance.run_balance` for a --curate classifier (None without one).

    Balance imports no classifier: its caller hands it this function, which `saved_curation_scores` the synthetic
    `folders` with the classifier saved in `model_dir` when balance has loaded the dataset.
    """
    if model_dir is None:
        return None
    return lambda dataset: saved_curation_scores(Path(model_dir), folders, dataset.fingerprint)
