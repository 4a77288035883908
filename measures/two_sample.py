"""Classifier two-sample test: can a simple classifier tell real from synthetic features?

A logistic regression on standardized features is trained and scored by stratified k-fold
cross-validation (Lopez-Paz & Oquab 2017, "Revisiting classifier two-sample tests"): every image is
scored by a model that never saw it, and the pooled out-of-fold scores give one ROC AUC. An AUC near
0.5 means the classifier cannot separate the sets (good); near 1 means synthetic images are easy to
spot. The standard error follows Hanley & McNeil (1982), so small sets get honestly wide intervals.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..errors import invalid_argument

DEFAULT_NUM_FOLDS = 5


@dataclass(frozen=True)
class TwoSampleResult:
    """Out-of-fold ROC AUC of real (0) versus synthetic (1)."""

    auc: float
    auc_standard_error: float
    auc_ci_low: float
    auc_ci_high: float
    fold_aucs: list[float]
    num_folds: int
    num_real: int
    num_synthetic: int
    classifier: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def hanley_mcneil_standard_error(auc: float, num_positive: int, num_negative: int) -> float:
    """Standard error of an ROC AUC (Hanley & McNeil 1982), from the AUC and the two class sizes."""
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    variance = (auc * (1 - auc) + (num_positive - 1) * (q1 - auc * auc)
                + (num_negative - 1) * (q2 - auc * auc)) / (num_positive * num_negative)
    return float(np.sqrt(max(variance, 0.0)))


def classifier_two_sample_test(real_features, synthetic_features, *, num_folds: int = DEFAULT_NUM_FOLDS,
                               regularization: float = 1.0, seed: int = 0) -> TwoSampleResult:
    """Cross-validated AUC of a logistic regression that separates real from synthetic features.

    Args:
        real_features: (N, D) real features.
        synthetic_features: (M, D) synthetic features.
        num_folds: folds of the stratified cross-validation (at most the smaller set's size).
        regularization: the inverse L2 strength `C` of the logistic regression.
        seed: seed of the fold assignment.

    Raises:
        ValueError: fewer than 2 folds, fewer images in a set than folds, or mismatched dimensions.
    """
    real = np.asarray(real_features, dtype=np.float64)
    synthetic = np.asarray(synthetic_features, dtype=np.float64)
    if num_folds < 2:
        raise invalid_argument("num_folds", "an integer >= 2", received=f"num_folds={num_folds}", error=ValueError)
    for name, features in (("real_features", real), ("synthetic_features", synthetic)):
        if features.ndim != 2 or len(features) < num_folds:
            raise invalid_argument(name, f"a 2-D array with at least num_folds={num_folds} rows", received=f"{name} with shape {features.shape}",
                                   error=ValueError)
    if real.shape[1] != synthetic.shape[1]:
        raise invalid_argument("synthetic_features", f"the feature dimension of real_features ({real.shape[1]})", received=f"{synthetic.shape[1]}",
                               error=ValueError)
    features = np.concatenate([real, synthetic])
    labels = np.concatenate([np.zeros(len(real), np.int64), np.ones(len(synthetic), np.int64)])
    scores = np.empty(len(labels))
    fold_aucs = []
    folds = StratifiedKFold(n_splits=num_folds, shuffle=True, random_state=seed)
    for train_index, test_index in folds.split(features, labels):
        # class_weight="balanced": the sets often differ in size (32 real covid images, 500 synthetic).
        model = make_pipeline(StandardScaler(), LogisticRegression(C=regularization, class_weight="balanced",
                                                                   max_iter=2000))
        model.fit(features[train_index], labels[train_index])
        scores[test_index] = model.decision_function(features[test_index])
        fold_aucs.append(float(roc_auc_score(labels[test_index], scores[test_index])))
    auc = float(roc_auc_score(labels, scores))
    standard_error = hanley_mcneil_standard_error(auc, len(synthetic), len(real))
    return TwoSampleResult(
        auc=auc, auc_standard_error=standard_error,
        auc_ci_low=max(0.0, auc - 1.96 * standard_error), auc_ci_high=min(1.0, auc + 1.96 * standard_error),
        fold_aucs=fold_aucs, num_folds=num_folds, num_real=len(real), num_synthetic=len(synthetic),
        classifier=f"standardized logistic regression (C={regularization}, balanced classes), "
                   f"{num_folds}-fold stratified cross-validation",
    )
