"""Per-model resume: a model's state after every epoch, and the record of a finished model.

A classifier run that is interrupted (Ctrl-C, a killed process, a killed worker) continues model by model: a
model whose folder holds `arm_run.FINISHED_RECORD` is finished and is read back, not trained again; a model whose
folder holds `CHECKPOINT_FILE` continues from the end of its last epoch; any other model trains from its start.

The checkpoint holds everything the next epoch depends on, so a resumed model ends with the numbers of an
uninterrupted one (with the same thread count): the model's variables (its augmentation and dropout seed states
among them), the optimizer's (step count, momentum, learning rate), the early stopping's best weights and counters,
the plateau schedule's counters, and the history so far. The training set's shuffled order of an epoch comes from the
seeds the seeded `tf.data` pipeline drew for the epochs before, which `skip_epochs` draws again.

Written atomically after each epoch, it is removed once the model's folder is complete.
"""

import hashlib
import json
import logging
import math
import time
from pathlib import Path

import keras
import numpy as np

from ..errors import invalid_argument
from ..runs import atomic_path

log = logging.getLogger("xgan")

CHECKPOINT_FILE = "epoch_checkpoint.npz"
_MODEL, _OPTIMIZER, _BEST = "model:", "optimizer:", "best:"


def training_fingerprint(*parts) -> str:
    """A short hash of what a model's training depends on (its config, its training set's size and make-up): a
    checkpoint made for other inputs is not resumed."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_checkpoint(path: Path, fingerprint: str) -> dict | None:
    """The state saved in `path`, or None when there is none or it was made for other inputs (then training starts over)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError) as error:
        log.warning("%s: unreadable (%s), the model trains from its start", path, error)
        return None
    if meta.get("fingerprint") != fingerprint:
        log.warning("%s: made for other options or another training set, the model trains from its start", path)
        return None
    split = {prefix: {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}
             for prefix in (_MODEL, _OPTIMIZER, _BEST)}
    return {**meta, "model": split[_MODEL], "optimizer": split[_OPTIMIZER], "best_weights": split[_BEST] or None}


def skip_epochs(dataset, epochs: int) -> None:
    """Draw the shuffle seeds that `epochs` epochs of `model.fit` drew from `dataset`, so that its next epoch gets the
    order that epoch `epochs` + 1 had in an uninterrupted run.

    A reshuffled `tf.data` pipeline draws its next seed whenever an iterator of it is made (Keras' distributed copy
    shares the seed), and Keras 3 makes two per epoch of a dataset of known length: the one the epoch trains on, and
    one at the epoch's end that the next epoch drops (`EpochIterator._enumerate_iterator`). Making and dropping as many
    here, without reading them, draws the same seeds (tests/test_classifier_resume.py checks the whole model).
    """
    if int(dataset.cardinality()) < 0:
        raise invalid_argument("dataset", "a dataset of known length (Keras makes two iterators per epoch of one)",
                               error=ValueError, received="a dataset of unknown length")
    for _ in range(2 * epochs):
        iter(dataset)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the training state into `path` at the end of every epoch; on `fit`'s start, puts back `restored`.

    Put it last in the callback list: at an epoch's end the early stopping and the plateau schedule have updated
    their counters before it saves them, and at the start of `fit` they have reset theirs before it restores them.

    Args:
        stopping: the `BestValidationEpoch` callback, or None.
        plateau: the `ReduceLROnPlateau` callback, or None.
        history: the epochs before this `fit` (their logs), from `restored`.
    """

    def __init__(self, path: Path, fingerprint: str, stopping=None, plateau=None, restored: dict | None = None):
        super().__init__()
        self.path, self.fingerprint = Path(path), fingerprint
        self.stopping, self.plateau, self.restored = stopping, plateau, restored
        self.logs = list(restored["logs"]) if restored else []
        self.started = time.perf_counter()

    def on_train_begin(self, logs=None):
        from ..runtime.variable_state import assign_training_state

        self.started = time.perf_counter()
        state = self.restored
        if not state:
            return
        assign_training_state(self.model, state["model"], state["optimizer"], str(self.path))
        if self.stopping is not None and state.get("stopping"):
            saved = state["stopping"]
            self.stopping.best_key = None if saved["best_key"] is None else tuple(saved["best_key"])
            self.stopping.best_epoch, self.stopping.wait = saved["best_epoch"], saved["wait"]
            self.stopping.best_weights = state["best_weights"]
        if self.plateau is not None and state.get("plateau"):
            for name, value in state["plateau"].items():
                setattr(self.plateau, name, value)

    def on_epoch_end(self, epoch, logs=None):
        from ..runtime.variable_state import training_state

        self.logs.append({name: float(value) for name, value in (logs or {}).items()})
        model_arrays, optimizer_arrays = training_state(self.model)
        arrays = {_MODEL + name: value for name, value in model_arrays.items()}
        arrays.update({_OPTIMIZER + name: value for name, value in optimizer_arrays.items()})
        meta = {"fingerprint": self.fingerprint, "epochs_done": epoch + 1, "logs": self.logs,
                "stopped": bool(self.model.stop_training),
                "seconds": (self.restored or {}).get("seconds", 0.0) + time.perf_counter() - self.started}
        if self.stopping is not None:
            meta["stopping"] = {"best_key": None if self.stopping.best_key is None else list(self.stopping.best_key),
                                "best_epoch": self.stopping.best_epoch, "wait": self.stopping.wait}
            arrays.update({_BEST + name: value for name, value in (self.stopping.best_weights or {}).items()})
        if self.plateau is not None:
            meta["plateau"] = {name: _plain(getattr(self.plateau, name)) for name in ("wait", "cooldown_counter", "best")}
        arrays["meta"] = np.array(json.dumps(meta, allow_nan=True))
        with atomic_path(self.path) as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, **arrays)


def _plain(value):
    value = float(value)
    return int(value) if value.is_integer() and math.isfinite(value) else value
