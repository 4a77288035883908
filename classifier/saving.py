"""A classifier on disk: `model.keras` (native format, loaded in safe mode) and `config.json` beside it.

`config.json` holds the ClassifierConfig (image size, class names, positive class) plus run details,
among them the decision thresholds chosen on the validation split, so `evaluate` and `predict` need
nothing but the folder or the model file.
"""

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from ..runs import CONFIG_FILE, read_json, write_json
from .config import ClassifierConfig

if TYPE_CHECKING:
    import keras

MODEL_FILE = "model.keras"
VALIDATION_PREDICTIONS = "validation_predictions.csv"  # beside them: the validation split's probabilities, for ensembles' thresholds


def save_classifier(run_dir: Path, model: "keras.Model", config: ClassifierConfig, **details) -> Path:
    """Write `model.keras` and `config.json` (config fields plus `details`) into `run_dir`, atomically.

    Returns:
        The path of the model file.
    """
    import keras  # here, not above: reading a run's files (evaluate's helpers, external sets) must not start TensorFlow

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / MODEL_FILE
    # Keras insists on the .keras suffix, so the temporary file keeps it.
    temporary = run_dir / f".{os.getpid()}.partial.keras"
    if getattr(model, "optimizer", None) is not None:
        # The same layers in an uncompiled model: the optimizer's slots would triple the file and are
        # never reused (keras.models.clone_model would recompile the copy and keep them).
        model = keras.Model(model.input, model.output, name=model.name)
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    write_json(run_dir / CONFIG_FILE, {**config.to_dict(), **details})
    return path


def model_files(path: Path) -> tuple[Path, Path]:
    """(model.keras, config.json) of a run folder or of a model file.

    Raises:
        UserError: when either is missing.
    """
    path = Path(path)
    model_path = path / MODEL_FILE if path.is_dir() else path
    if not model_path.is_file():
        raise UserError(f"{path}: no classifier here; expected a classifier run folder holding {MODEL_FILE} or a .keras file")
    if model_path.suffix != ".keras":
        raise UserError(f"{model_path}: expected a model in the native Keras format (a .keras file)")
    config_path = model_path.parent / CONFIG_FILE
    if not config_path.is_file():
        raise UserError(f"{model_path}: no {CONFIG_FILE} beside it; expected the run folder that `xgan classify` wrote")
    return model_path, config_path


def load_classifier(path: Path) -> "keras.Model":
    """Load a saved classifier (a run folder or its model.keras) in Keras' safe mode, uncompiled."""
    import keras

    model_path, _ = model_files(path)
    try:
        return keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except (OSError, ValueError) as error:
        raise UserError(f"{model_path}: cannot load the model ({str(error).splitlines()[0]})") from None


def load_classifier_config(path: Path) -> tuple[ClassifierConfig, dict]:
    """The ClassifierConfig of a saved classifier and the whole config.json (with run details).

    Raises:
        UserError: an unreadable config or one without class names and positive class.
    """
    _, config_path = model_files(path)
    try:
        details = read_json(config_path)
        config = ClassifierConfig.from_dict(details)
    except (OSError, ValueError, TypeError) as error:
        raise UserError(f"{config_path}: not a classifier config ({error})") from None
    if len(config.class_names) < 2 or (not config.is_multiclass and config.positive_class is None):
        raise UserError(f"{config_path}: expected `class_names` (two or more) and, with two, `positive_class`; found {config.class_names} and {config.positive_class!r}")
    return config, details
