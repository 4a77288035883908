"""The chest X-ray classifier and the honest comparison of imbalance remedies.

The CNN (`build_classifier`) takes raw 0-255 gray pixels, shape (S, S, 1), and outputs the
probability of the positive class. Its "penultimate" layer is the activation (LeakyReLU, named
`"penultimate"`) of the last hidden dense layer, just before the last dropout and the sigmoid
output unit: `penultimate_features` returns it, (N, 64) with the default config.

Public API:
    ClassifierConfig, build_classifier(config) -> keras.Model
    fit_real_classifier(images, labels, *, epochs, seed, validation=None) -> keras.Model
    penultimate_features(model, images) -> (N, D) float32
    load_classifier(path) -> keras.Model (safe mode), load_classifier_config(path)
    save_classifier(run_dir, model, config, **details)
    train_classifier(config, images, labels, validation=None, class_weight=None) -> TrainingResult
    predict_probabilities(model, images) -> (N,) positive-class probabilities
    ClassifyConfig, run_classify(config) -> ClassifyResult: `xgan classify` (one model, or --compare: every arm x seed)
    ARMS: {name: Arm}, the registry of the comparison's arms (classifier.arms): one record per arm and its builder
    compare_arms(runs, experiment, seed) -> report dict (pure statistics of a comparison)
    evaluate_model(model_path, data, out=None) -> EvaluateResult: `xgan evaluate`
    predict_images(model_path, paths) -> list[Prediction]: `xgan predict`
    binary_metrics, paired_bootstrap, mcnemar_exact: pure metric functions (classifier.metrics)
    choose_threshold(y_true, probability, target_sensitivity=None) -> record: the decision threshold,
        chosen on validation (classifier.threshold; binary models only)
    load_ensemble(paths) -> Ensemble: several saved models scored as their mean (classifier.ensemble)
    predict_probabilities(model, images, tta=True): test-time augmentation (classifier.tta)
"""

import importlib

# Every name is imported when first used: TensorFlow, scikit-learn and SciPy take seconds to import, and
# `xgan classify` reads its dataset before it needs them. The `classify` command is `run_classify` here, so
# no name of this face shadows the submodule `classifier.classify`.
_LAZY = {
    "ARMS": "arms", "Arm": "arms", "ClassifyConfig": "classify_config", "ClassifyResult": "classify",
    "ClassifierConfig": "config",
    "compare_arms": "compare",
    "Ensemble": "ensemble", "load_ensemble": "ensemble",
    "EvaluateResult": "evaluate", "evaluate_model": "evaluate",
    "binary_metrics": "metrics", "mcnemar_exact": "metrics", "paired_bootstrap": "metrics",
    "PENULTIMATE_LAYER": "model", "build_classifier": "model",
    "Prediction": "predict", "predict_images": "predict",
    "load_classifier": "saving", "load_classifier_config": "saving", "save_classifier": "saving",
    "choose_threshold": "threshold", "run_classify": "classify",
    "TrainingResult": "train", "fit_real_classifier": "train", "penultimate_features": "train",
    "predict_probabilities": "train", "train_classifier": "train",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f".{_LAZY[name]}", __name__)
    value = module.classify if name == "run_classify" else getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "ARMS",
    "Arm",
    "PENULTIMATE_LAYER",
    "ClassifierConfig",
    "ClassifyConfig",
    "ClassifyResult",
    "Ensemble",
    "EvaluateResult",
    "Prediction",
    "TrainingResult",
    "binary_metrics",
    "build_classifier",
    "choose_threshold",
    "compare_arms",
    "evaluate_model",
    "fit_real_classifier",
    "load_classifier",
    "load_classifier_config",
    "load_ensemble",
    "mcnemar_exact",
    "paired_bootstrap",
    "penultimate_features",
    "predict_images",
    "predict_probabilities",
    "run_classify",
    "save_classifier",
    "train_classifier",
]
