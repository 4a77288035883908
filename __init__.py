"""xgan: fight class imbalance in chest X-ray datasets with generated images, and measure honestly whether it helps.

From Python (a notebook), each command is one function taking the config dataclass the CLI builds:

    load_dataset(data=None, size=None) -> Dataset                   xgan info
    train_gan(GanConfig(...), kid_every=10) -> GanRun               xgan train
    sample(run, num_images, out=None, seed=0) -> SyntheticFolder    xgan sample
    build_training_set(BalanceConfig(...)) -> BalanceResult         xgan balance
    classify(ClassifyConfig(...)) -> ClassifyResult                 xgan classify
    compare(ClassifyConfig(compare=True, ...)) -> Comparison        xgan classify --compare
    measure_quality(QualityConfig(...)) -> QualityOutcome           xgan quality
    run_study(StudyConfig(...)) -> StudyResult                      xgan run
    evaluate(model, data, out=None) -> EvaluateResult               xgan evaluate
    predict(model, images) -> list[Prediction]                      xgan predict

`GanRun`, `Comparison` and `StudyResult` also read existing run folders (`Comparison.from_folder(path)`).
Every name is imported when first used: `import xgan` and its config classes do not start TensorFlow.
Mistakes a user can fix raise `UserError`. See xgan/api.py and the README's "From Python".
"""

import importlib
import os

__version__ = "0.1.0"

# Both settings are read once, when TensorFlow is first imported, so they are made here, before any
# submodule imports it; a user's own setting wins.
# Quiet TensorFlow's start-up chatter.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN's CPU kernels: TensorFlow turns them on by itself only on CPUs with AVX-512 VNNI or newer;
# on an AVX2 CPU they halve the CPU time of a DCGAN training step (benchmarks/README.md). Set
# TF_ENABLE_ONEDNN_OPTS=0 to run TensorFlow's own kernels.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# The public names and the module of each: the functions and result types of the Python API, the configs from their
# own modules (so reading a config does not import the others).
_PUBLIC = {
    "load_dataset": ".api", "train_gan": ".api", "sample": ".api", "build_training_set": ".api", "classify": ".api",
    "compare": ".api", "measure_quality": ".api", "run_study": ".api",
    "evaluate": ".api", "predict": ".api",
    "GanRun": ".api", "Comparison": ".api", "StudyResult": ".api",
    "GanConfig": ".gan.config", "BalanceConfig": ".balance.command", "ClassifyConfig": ".classifier.classify_config",
    "QualityConfig": ".quality.config", "StudyConfig": ".study.config",
    "Dataset": ".datasets.dataset", "BalanceResult": ".balance.command", "ClassifyResult": ".classifier.classify",
    "QualityOutcome": ".quality.assess", "SyntheticFolder": ".runs", "UserError": ".errors",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *__all__})
