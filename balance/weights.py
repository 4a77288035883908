"""Class weights: the balancing arm that changes the loss instead of the data."""

import numpy as np

from ..errors import UserError, invalid_argument


def class_weights(counts: dict[str, int]) -> dict[str, float]:
    """Weights that make every class count as much in the loss, by class name.

    scikit-learn's `compute_class_weight("balanced")`: n_samples / (n_classes * count), so with
    32 covid and 413 normal images covid weighs 6.95 and normal 0.54.

    Args:
        counts: training images per class, `{class: n}`.

    Returns:
        `{class: weight}` in the order of `counts`.

    Raises:
        UserError: fewer than two classes, or a class without images.
    """
    from sklearn.utils.class_weight import compute_class_weight  # imported here: sklearn is slow to import

    if len(counts) < 2:
        raise UserError(f"class weights need at least two classes; found {len(counts)} ({', '.join(counts) or 'none'})")
    for name, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise invalid_argument("counts", "a non-negative integer count per class", received=f"{name}={count!r}")
        if count == 0:
            raise UserError(f"class {name} has no training images; class weights need at least one image per class")
    names = np.array(list(counts))
    labels = np.repeat(names, list(counts.values()))
    weights = compute_class_weight("balanced", classes=names, y=labels)
    return {str(name): float(weight) for name, weight in zip(names, weights)}
