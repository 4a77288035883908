"""Quality of synthetic X-rays: fidelity, diversity, distinguishability and memorization of patients' images.

Public API:
    QualityConfig; run_quality(config) -> QualityOutcome (assess_quality or select_checkpoint)
    kernel_inception_distance(real, synthetic, *, num_subsets, max_subset_size, seed) -> KidResult
    frechet_distance(real, synthetic) -> float (biased at small sizes)
    precision_recall(real, synthetic, k=3) -> PrecisionRecall
    classifier_two_sample_test(real, synthetic, *, num_folds, seed) -> TwoSampleResult
    find_memorization(synthetic_images, real_images, real_keys, *, threshold) -> MemorizationResult
    PixelFeatures, ClassifierFeatures, InceptionFeatures: images -> features
    KidMonitor: a keras Callback logging a cheap `kid` every N epochs of GAN training

Nothing here is imported by `gan`; the CLI hands `KidMonitor` to `gan.train_gan(config, callbacks=[...])`.
TensorFlow is imported only where a model is needed.
"""

from .assess import QualityOutcome, assess_quality, run_quality, select_checkpoint
from .config import QualityConfig
from .features import ClassifierFeatures, InceptionFeatures, PixelFeatures
from .kid import KidResult, frechet_distance, kernel_inception_distance
from .memorization import DEFAULT_COPY_THRESHOLD, MemorizationResult, find_memorization
from .prdc import PrecisionRecall, precision_recall
from .selection import CheckpointScore, recommend_checkpoint
from ..measures.two_sample import TwoSampleResult, classifier_two_sample_test

__all__ = [
    "DEFAULT_COPY_THRESHOLD",
    "CheckpointScore",
    "ClassifierFeatures",
    "InceptionFeatures",
    "KidMonitor",
    "KidResult",
    "MemorizationResult",
    "PixelFeatures",
    "PrecisionRecall",
    "QualityConfig",
    "QualityOutcome",
    "TwoSampleResult",
    "assess_quality",
    "classifier_two_sample_test",
    "find_memorization",
    "frechet_distance",
    "kernel_inception_distance",
    "precision_recall",
    "recommend_checkpoint",
    "run_quality",
    "select_checkpoint",
]


def __getattr__(name):
    # KidMonitor subclasses a keras Callback: imported on first use, so that `import xgan.quality`
    # (and the CLI's option checks) do not wait for TensorFlow.
    if name == "KidMonitor":
        from .monitor import KidMonitor

        return KidMonitor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
