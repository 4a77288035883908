"""Training the CNN on in-memory arrays: tf.data input, early stopping on the real validation split."""

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ..datasets.image_rows import ImageRows
from ..errors import invalid_argument
from ..runtime.inference import inference_function
from ..runtime.variable_state import assign_named, assign_training_state, named_arrays, training_state
from .backbones import FINE_TUNE_LEARNING_RATE_FACTOR
from .config import ClassifierConfig
from .model import (PENULTIMATE_LAYER, PLATEAU_FACTOR, PLATEAU_PATIENCE, backbone_of, build_classifier, compile_classifier,
                    execution_steps, set_backbone_trainable)

log = logging.getLogger("xgan")

# Images per inference batch at 32 px and below: 1024 take 0.75x the CPU time of 256 on one thread (7,000 against
# 5,200 images/s at 32 px; benchmarks/README.md, models side by side) and give the same outputs to the bit.
PREDICT_BATCH_SIZE = 1024
PREDICT_BATCH_PIXELS = PREDICT_BATCH_SIZE * 32 * 32  # larger images, fewer per batch: 256 at 64 px, 64 at 128 px


def predict_batch_size(image_size: int) -> int:
    """Images per inference batch: activations of 256 images of 128 px alone take over a gigabyte, and gain no speed."""
    return max(1, min(PREDICT_BATCH_SIZE, PREDICT_BATCH_PIXELS // (image_size * image_size)))


@dataclass
class TrainingResult:
    """A trained model and how its training went.

    Attributes:
        model: the model with the weights of its best validation epoch (or its last, without validation).
        history: one dict per epoch: `epoch` (1-based) and every logged metric (loss, accuracy, auc,
            val_loss, val_accuracy, val_auc).
        best_epoch: the 1-based epoch whose weights the model holds.
        seconds: wall time of `fit`.
        validation_outputs: the model's outputs on the validation images at the epoch whose weights it holds, as
            `predict_probabilities` gives them (computed for early stopping, so not computed again); None when unknown.
    """

    model: keras.Model
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    validation_outputs: np.ndarray | None = None


def to_model_input(images: np.ndarray) -> np.ndarray:
    """(N, S, S) or (N, S, S, 1) uint8 pixels -> (N, S, S, 1) float32 in 0-255, the model's input."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] != 1:
        raise invalid_argument("images", "(N, S, S) gray images", received=f"images.shape={images.shape}", error=ValueError)
    return images.astype(np.float32)


def images_per_epoch(num_images: int, batch_size: int, num_replicas: int = 1) -> int:
    """How many of `num_images` an epoch trains on: all, less what makes the last batch indivisible by the replicas.

    The last, partial batch is cut to a multiple of `num_replicas` (at most `num_replicas` - 1 images
    left out), so that every replica gets an equal share of every batch and none an empty one: the mean
    of the replicas' losses is then the mean over the batch, and a step on an empty share fails (with
    TensorFlow 2.21's oneDNN kernels, on a shape error in batch norm).
    """
    return num_images - num_images % batch_size % num_replicas


def make_dataset(images, labels: np.ndarray, batch_size: int, shuffle_seed: int | None = None,
                 num_replicas: int = 1) -> tf.data.Dataset:
    """Batches of (pixels, 0/1 label); reshuffled every epoch when a seed is given.

    Pixels stay uint8 in the dataset (4x less memory than float) and are cast per batch. An array in
    memory is sliced by tf.data; a memory-mapped one (the image cache, or an `ImageRows` view of it)
    is read batch by batch, so memory does not grow with the dataset. Both give the same batches in
    the same order: the shuffle permutes positions the same way whatever the elements are.

    Args:
        num_replicas: replicas of the tf.distribute strategy that splits each batch; every epoch trains on
            `images_per_epoch` images, the first of its shuffled order.
    """
    labels = np.asarray(labels, np.float32).reshape(-1, 1)
    num_kept = images_per_epoch(len(images), batch_size, num_replicas)
    if isinstance(images, (ImageRows, np.memmap)):
        dataset = _streamed_batches(images, labels, batch_size, shuffle_seed, num_kept)
    else:
        images = np.asarray(images)
        dataset = tf.data.Dataset.from_tensor_slices((images, labels))
        if shuffle_seed is not None:
            dataset = dataset.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)
        dataset = dataset.take(num_kept).batch(batch_size)
    dataset = dataset.map(lambda x, y: (tf.cast(x, tf.float32)[..., None], y), num_parallel_calls=tf.data.AUTOTUNE)
    # Under a multi-worker strategy each worker keeps its share of every global batch: there are no files
    # to shard by (tf.data's AUTO policy would try them first and warn), so every worker reads every batch.
    from ..runtime.distribute import input_options

    return dataset.with_options(input_options("DATA")).prefetch(tf.data.AUTOTUNE)


def _streamed_batches(images, labels: np.ndarray, batch_size: int, shuffle_seed: int | None, num_kept: int) -> tf.data.Dataset:
    """Batches read from a memory-mapped array by position: only positions travel through tf.data."""
    size = images.shape[1]

    def read(positions):
        return np.asarray(images[positions]), labels[positions]

    positions = tf.data.Dataset.range(len(images))
    if shuffle_seed is not None:
        positions = positions.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)

    def fetch(batch):
        pixels, targets = tf.numpy_function(read, [batch], (tf.uint8, tf.float32), stateful=False)
        return tf.ensure_shape(pixels, (None, size, size)), tf.ensure_shape(targets, (None, 1))

    return positions.take(num_kept).batch(batch_size).map(fetch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


class ValidationMetrics(keras.callbacks.Callback):
    """Adds val_loss, val_accuracy and val_auc to each epoch's logs, for early stopping and the curves.

    Computed here from one inference pass over the (small) validation split with scikit-learn's
    ROC-AUC, which is exact where Keras' AUC metric bins scores, and costs a fraction of `fit`'s own
    validation loop on a few hundred images. Put it before EarlyStopping in the callback list.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        super().__init__()
        self.images = images
        self.labels = np.asarray(labels, np.int64)
        self.outputs = None  # the last epoch's outputs (float64), which BestValidationEpoch keeps for its best epoch

    def on_epoch_end(self, epoch, logs=None):
        from ..runtime.distribute import mean_over_workers

        if logs is None:
            return
        outputs = self.outputs = run_in_batches(self.model, self.images).astype(np.float64)
        if outputs.ndim == 2 and outputs.shape[1] > 1:
            scores = self._multiclass(np.clip(outputs, 1e-7, 1.0))
        else:
            scores = self._binary(np.clip(outputs.reshape(-1), 1e-7, 1 - 1e-7))
        # Early stopping acts on these: under a multi-worker strategy, one number on every worker.
        logs.update(mean_over_workers(scores, self.model.distribute_strategy))

    def _binary(self, probabilities: np.ndarray) -> dict[str, float]:
        """A sigmoid output: binary cross-entropy, accuracy at 0.5, and ROC-AUC."""
        from sklearn.metrics import roc_auc_score

        scores = {"val_loss": float(-np.mean(self.labels * np.log(probabilities) + (1 - self.labels) * np.log(1 - probabilities))),
                  "val_accuracy": float(np.mean((probabilities >= 0.5) == self.labels))}
        if len(np.unique(self.labels)) == 2:
            scores["val_auc"] = float(roc_auc_score(self.labels, probabilities))
        return scores

    def _multiclass(self, probabilities: np.ndarray) -> dict[str, float]:
        """Softmax outputs: categorical cross-entropy, accuracy, and the macro one-vs-rest ROC-AUC."""
        from sklearn.metrics import roc_auc_score

        scores = {"val_loss": float(-np.mean(np.log(probabilities[np.arange(len(self.labels)), self.labels]))),
                  "val_accuracy": float(np.mean(probabilities.argmax(axis=1) == self.labels))}
        if len(np.unique(self.labels)) == probabilities.shape[1]:
            normalized = probabilities / probabilities.sum(axis=1, keepdims=True)
            scores["val_auc"] = float(roc_auc_score(self.labels, normalized, multi_class="ovr", average="macro"))
        return scores


def check_class_labels(labels, num_classes: int, argument: str = "labels") -> np.ndarray:
    """Labels as an int array of class indices 0 .. num_classes - 1 (0 and 1 for a binary model)."""
    if num_classes <= 2:
        return check_binary_labels(labels, argument)
    labels = np.asarray(labels).reshape(-1)
    if labels.size and not np.isin(labels, np.arange(num_classes)).all():
        raise invalid_argument(argument, f"class indices 0 to {num_classes - 1}", received=f"values {sorted(set(labels.tolist()))[:5]}",
                               error=ValueError)
    return labels.astype(np.int64)


class BestValidationEpoch(keras.callbacks.Callback):
    """Early stopping on a validation quantity, ties broken on val_loss; the best epoch's weights restored at the end.

    Keras' EarlyStopping needs a strict improvement, so on a small validation split where val_auc
    reaches 1.0 it keeps the *earliest* such epoch. Here an epoch is better when its `monitor` is
    better, or equal with a lower val_loss.

    Attributes:
        best_epoch: 0-based epoch whose weights are kept (None before the first epoch).
        best_weights: those weights, by variable path (restored by name: a variable listed in another
            order still gets its own array, a mismatch is refused by name).
    """

    def __init__(self, monitor: str = "val_auc", patience: int = 0, validation_metrics: "ValidationMetrics | None" = None):
        super().__init__()
        if monitor not in ("val_auc", "val_loss"):
            raise invalid_argument("monitor", "'val_auc' or 'val_loss'", monitor, error=ValueError)
        self.monitor, self.patience, self.validation_metrics = monitor, patience, validation_metrics
        self.best_key, self.best_epoch, self.best_weights, self.wait = None, None, None, 0
        self.best_outputs = None  # the validation outputs of the best epoch, from `validation_metrics`

    def _key(self, logs: dict) -> tuple[float, float]:
        """A key to maximize: (monitor, -val_loss) for val_auc, (-val_loss,) for val_loss."""
        loss = -float(logs["val_loss"])
        return (float(logs[self.monitor]), loss) if self.monitor == "val_auc" else (loss,)

    def on_train_begin(self, logs=None):
        self.best_key, self.best_epoch, self.best_weights, self.wait = None, None, None, 0
        self.best_outputs = None

    def on_epoch_end(self, epoch, logs=None):
        key = self._key(logs or {})
        if any(np.isnan(k) for k in key):
            return self._no_improvement()
        if self.best_key is None or key > self.best_key:
            self.best_key, self.best_epoch, self.wait = key, epoch, 0
            self.best_weights = named_arrays(self.model.weights)
            self.best_outputs = None if self.validation_metrics is None else self.validation_metrics.outputs
            return None
        return self._no_improvement()

    def _no_improvement(self):
        self.wait += 1
        if self.wait >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            assign_named(self.model.weights, self.best_weights, "the best epoch's weights")


def check_binary_labels(labels, argument: str = "labels") -> np.ndarray:
    """Labels as an int array of 0 (negative) and 1 (positive)."""
    labels = np.asarray(labels).reshape(-1)
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise invalid_argument(argument, "0 (negative) and 1 (positive) only", received=f"values {sorted(set(labels.tolist()))[:5]}",
                               error=ValueError)
    return labels.astype(np.int64)


def train_classifier(config: ClassifierConfig, images: np.ndarray, labels, validation=None,
                     class_weight: dict[int, float] | None = None, tensorboard_run: Path | None = None,
                     initial_model: keras.Model | None = None, strategy: str = "default",
                     checkpoint: tuple[Path, str] | None = None) -> TrainingResult:
    """Train a fresh classifier (the CNN or a backbone of `config.backbone`; pretrained ones with `config.freeze_epochs` head-only epochs first).

    Args:
        config: the network and its training settings; `config.seed` seeds weights, dropout,
            augmentation and the shuffling order.
        images: (N, S, S) uint8 training images, S = config.image_size.
        labels: 1 for the positive class, 0 for the other; with three or more `config.class_names`,
            the index of each image's class in them.
        validation: (images, labels) of the real validation split: early stopping on
            `config.monitor` with the best epoch's weights restored. None trains `config.epochs` epochs.
        class_weight: loss weight per label (0 and 1, or each class index), for the class-weight arm.
        tensorboard_run: a run folder: write TensorBoard logs of every epoch's training and
            validation scalars to its `tensorboard/` sub-folder.
        initial_model: continue from this model's weights (fine-tuning) instead of fresh ones;
            it is compiled again with `config`'s optimizer and learning rate.
        strategy: the tf.distribute strategy to train under (`distribute.STRATEGIES`);
            `config.batch_size` is the global batch, split between the replicas.
        checkpoint: (file, fingerprint): save the training state there after every epoch, and first continue from
            it when it holds a state of the same fingerprint (`epoch_state.py`); with the default strategy, a
            fresh model and no head-only stage.

    Returns:
        A TrainingResult.
    """
    num_classes = max(len(config.class_names), 2)
    labels = check_class_labels(labels, num_classes)
    if len(images) != len(labels) or len(images) == 0:
        raise invalid_argument("images", "a non-empty array with one label per image", received=f"{len(images)} images, {len(labels)} labels",
                               error=ValueError)
    if tuple(images.shape[1:3]) != (config.image_size, config.image_size):
        raise invalid_argument("images", f"{config.image_size}x{config.image_size} images (config.image_size)",
                               received=f"images.shape={images.shape}", error=ValueError)
    from ..runtime.distribute import check_global_batch, make_strategy, prepare_multi_worker_fit

    distribution = make_strategy(strategy)
    check_global_batch(config.batch_size, distribution)
    keras.utils.set_random_seed(config.seed)
    num_replicas = distribution.num_replicas_in_sync
    num_per_epoch = images_per_epoch(len(images), config.batch_size, num_replicas)
    if num_per_epoch == 0:
        raise invalid_argument("images", f"at least one image per replica ({num_replicas})", received=f"{len(images)} images", error=ValueError)
    if num_per_epoch < len(images):
        log.info("each epoch trains on %d of the %d images (its shuffled order's first): equal shares for the %d replicas",
                 num_per_epoch, len(images), num_replicas)
    steps_per_epoch = -(-num_per_epoch // config.batch_size)
    with distribution.scope():
        model = initial_model if initial_model is not None else build_classifier(config)
    train_data = make_dataset(images, labels, config.batch_size, shuffle_seed=config.seed, num_replicas=num_replicas)
    callbacks, stopping, metrics_callback = [], None, []
    if validation is not None:
        val_images, val_labels = validation
        val_labels = check_class_labels(val_labels, num_classes, "validation")
        monitor = config.monitor
        if monitor == "val_auc" and len(set(val_labels.tolist())) < num_classes:
            log.warning("the validation split lacks a class: ROC-AUC is undefined, early stopping on val_loss instead")
            monitor = "val_loss"
        metrics_callback = [ValidationMetrics(val_images, val_labels)]
        stopping = BestValidationEpoch(monitor, config.patience, metrics_callback[0])
        callbacks = [*metrics_callback, stopping]
        if config.schedule == "plateau":
            callbacks.append(keras.callbacks.ReduceLROnPlateau("val_loss", factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE, verbose=0))
    if tensorboard_run is not None:  # after ValidationMetrics, so the val_* scalars are in the logs it writes
        from ..runtime.tensorboard_logs import tensorboard_callback

        callbacks.insert(1 if stopping is not None else 0, tensorboard_callback(tensorboard_run))
    restored, initial_epoch = None, 0
    if checkpoint is not None:
        if initial_model is not None or config.freeze_epochs or num_replicas > 1:
            raise invalid_argument("checkpoint", "a fresh model without a head-only stage on one replica", error=ValueError,
                                   received=f"a checkpoint with initial_model={initial_model is not None}, "
                                            f"freeze_epochs={config.freeze_epochs}, {num_replicas} replicas")
        from .epoch_state import EpochCheckpoint, read_checkpoint, skip_epochs

        restored = read_checkpoint(*checkpoint)
        plateau = next((c for c in callbacks if isinstance(c, keras.callbacks.ReduceLROnPlateau)), None)
        callbacks.append(EpochCheckpoint(checkpoint[0], checkpoint[1], stopping, plateau, restored))  # last: see its docstring
        if restored is not None:
            # A model that had stopped early trains no further epoch: fit restores its best weights and ends.
            initial_epoch = config.epochs if restored["stopped"] else restored["epochs_done"]
            skip_epochs(train_data, restored["epochs_done"])
            log.info("continuing from the end of epoch %d (%s)", restored["epochs_done"], checkpoint[0])
    head_history, seconds, tuned = [], 0.0, config
    if initial_model is None and config.freeze_epochs:
        head_history, seconds = _train_head(model, config, train_data, metrics_callback, class_weight, distribution, steps_per_epoch)
        tuned = dataclasses.replace(config, learning_rate=config.learning_rate * FINE_TUNE_LEARNING_RATE_FACTOR)
    with distribution.scope():
        model = compile_classifier(model, tuned, steps_per_epoch=steps_per_epoch)
    if not head_history:
        prepare_multi_worker_fit(model, distribution, train_data.element_spec)
    reusable = strategy == "default" and initial_model is None and not config.freeze_epochs
    runner = _traced_runner(model, config, steps_per_epoch) if reusable else model
    log.info("training on %d images of %d px, batch %d", len(images), config.image_size, config.batch_size)
    start = time.perf_counter()
    fitted = runner.fit(train_data, epochs=config.epochs, initial_epoch=initial_epoch, shuffle=False, class_weight=class_weight,
                        callbacks=callbacks, verbose=0)
    if runner is not model:
        assign_training_state(model, *training_state(runner), "the model trained in its place")
    seconds += time.perf_counter() - start
    offset = len(head_history)
    history = [{"epoch": offset + epoch + 1, **{name: float(values[epoch]) for name, values in fitted.history.items()},
                **({"stage": "whole network"} if offset else {})}
               for epoch in range(len(fitted.epoch))]
    if restored is not None:
        seconds += restored.get("seconds", 0.0)
        history = [{"epoch": epoch + 1, **logs} for epoch, logs in enumerate(restored["logs"][:restored["epochs_done"]])] + \
                  [{**entry, "epoch": entry["epoch"] + restored["epochs_done"]} for entry in history]
    history = head_history + history
    best_epoch = len(history)
    validation_outputs = None
    if stopping is not None and stopping.best_weights is not None:
        best_epoch = offset + stopping.best_epoch + 1
        # The outputs that chose the best epoch were computed with the weights the model now holds (restored by name,
        # to the bit): `predict_probabilities` would compute the same again. None when that epoch was before a resume.
        if stopping.best_outputs is not None:
            outputs = stopping.best_outputs
            validation_outputs = outputs.reshape(-1) if outputs.shape[-1] == 1 else outputs.reshape(len(outputs), -1)
    log.info("trained %d epoch(s) in %.1f s, best epoch %d", len(history), seconds, best_epoch)
    return TrainingResult(model, history, best_epoch, seconds, validation_outputs)


# One compiled stand-in per network configuration (less its seed; with the cosine schedule, per steps per epoch too,
# which its decay counts in), kept by this process. Keras traces a model's train step at its first `fit` (1.3 of the
# 6.6 CPU s of a 4-epoch model on 3,000 images at 32 px, one thread); a stand-in already traced trains the next model
# of the same network without tracing it again. At most TRACED_RUNNERS are kept: a comparison's arms use two networks
# (with and without the classic augmentation; the class-weight arm's weighted batches are one more trace of the first
# stand-in's step).
_RUNNERS: dict = {}
TRACED_RUNNERS = 3


def _traced_runner(model: keras.Model, config: ClassifierConfig, steps_per_epoch: int) -> keras.Model:
    """A model of `model`'s network that `fit` can train in its place, holding its state (weights, seed states, optimizer).

    The stand-in is a second model of the same configuration that this process keeps (never one a caller holds), so
    its traced train step is reused by the next model of the same network; the trained state goes back to `model`
    (`variable_state.training_state`), which keeps its own configuration (its seeds) for saving. A reused stand-in gives
    the outcome a fresh one gives, to the bit (tests/test_classifier_model.py), as its step computes the same operations
    on the same values; only the tracing is saved.

    The CNN's stand-in trains its batch normalization through TensorFlow's fused kernel (`build_classifier`'s
    `fused_batch_norm`), a quarter less CPU per step at the study's size; `model.fit` on the plain model computes the
    same statistics in separate operations, so it differs from the stand-in's outcome at float rounding, which grows
    over epochs as any rounding does in training. The saved model keeps Keras' own layer either way.

    The stand-in also runs several steps per call of its traced step (`model.execution_steps`): the same steps, so the
    same weights to the bit as one step per call, with less of `fit`'s per-step overhead.
    """
    key = (json.dumps({**config.to_dict(), "seed": None}, sort_keys=True, default=str), steps_per_epoch if config.schedule == "cosine" else None)
    runner = _RUNNERS.pop(key, None)
    if runner is None:
        runner = compile_classifier(build_classifier(config, fused_batch_norm=True), config, steps_per_epoch=steps_per_epoch,
                                    steps_per_execution=execution_steps(config))
    _RUNNERS[key] = runner
    while len(_RUNNERS) > TRACED_RUNNERS:
        _RUNNERS.pop(next(iter(_RUNNERS)))
    assign_training_state(runner, *training_state(model), "the model trained in its place")
    return runner


def _train_head(model: keras.Model, config: ClassifierConfig, train_data, metrics_callback: list, class_weight,
                distribution, steps_per_epoch: int) -> tuple[list[dict], float]:
    """The first stage of fine-tuning: `config.freeze_epochs` epochs of the new head on a frozen pretrained backbone.

    A frozen batch-normalization layer runs in inference mode in Keras 3, so the backbone's statistics stay
    the pretrained ones; they stay so after it too (`model.set_backbone_trainable`). No early stopping here:
    the head starts from random weights and every epoch of it is kept.

    Returns:
        The stage's history (each entry's `stage` is "head") and its seconds; the backbone, less its batch
        normalization, is trainable again after it.
    """
    from ..runtime.distribute import prepare_multi_worker_fit

    backbone = backbone_of(model)
    if backbone is None:
        raise invalid_argument("config", "freeze_epochs 0 for a model without a backbone", received=f"freeze_epochs={config.freeze_epochs}",
                               error=ValueError)
    set_backbone_trainable(backbone, False, keep_batch_norm=True)
    with distribution.scope():
        compile_classifier(model, dataclasses.replace(config, epochs=config.freeze_epochs), steps_per_epoch=steps_per_epoch)
    prepare_multi_worker_fit(model, distribution, train_data.element_spec)
    log.info("training the head alone for %d epoch(s), the %s backbone frozen", config.freeze_epochs, config.backbone)
    start = time.perf_counter()
    fitted = model.fit(train_data, epochs=config.freeze_epochs, shuffle=False, class_weight=class_weight, callbacks=metrics_callback, verbose=0)
    seconds = time.perf_counter() - start
    set_backbone_trainable(backbone, True, keep_batch_norm=True)
    history = [{"epoch": epoch + 1, **{name: float(values[epoch]) for name, values in fitted.history.items()}, "stage": "head"}
               for epoch in range(len(fitted.epoch))]
    return history, seconds


def fit_real_classifier(images: np.ndarray, labels, *, epochs: int, seed: int, validation=None) -> keras.Model:
    """A quick classifier trained on real images only, with the default network.

    Args:
        images: (N, S, S) uint8; S becomes the model's input size.
        labels: integer classes (e.g. `Dataset.labels`): 0 and 1, the output scoring class 1; with
            three or more classes, a softmax over them.
        epochs: the most epochs to train.
        seed: seeds weights and shuffling.
        validation: optional (images, labels) for early stopping with the best weights restored.
    """
    images = np.asarray(images)
    num_classes = int(np.max(labels)) + 1 if len(labels) else 2
    class_names = [str(i) for i in range(num_classes)] if num_classes > 2 else []
    config = ClassifierConfig(image_size=int(images.shape[1]), epochs=epochs, seed=seed, class_names=class_names)
    return train_classifier(config, images, labels, validation).model


def predict_probabilities(model: keras.Model, images: np.ndarray, tta: bool = False, plain: np.ndarray | None = None) -> np.ndarray:
    """The positive-class probability of every image, shape (N,) float64; (N, classes) for a softmax model.

    Args:
        tta: average over the test-time augmentation views of `tta.py`; False scores the images as they are.
        plain: with `tta`, what this function gives without it for the same model and images, when known: the
            identity view's outputs, not computed again (the same batches, so the same numbers to the bit).
    """
    num_outputs = int(model.output_shape[-1] or 1)
    if len(images) == 0:
        return np.zeros(0) if num_outputs == 1 else np.zeros((0, num_outputs))
    if tta:
        from .tta import predict_with_tta

        # Batch by batch, as run_in_batches: nine float32 copies of a whole (memory-mapped) split would not fit.
        chunk = predict_batch_size(int(images.shape[1]))  # nine views of a chunk in memory at once
        return np.concatenate([predict_with_tta(lambda views: predict_probabilities(model, views), np.asarray(images[start:start + chunk]),
                                                identity=None if plain is None else plain[start:start + chunk])
                               for start in range(0, len(images), chunk)])
    outputs = run_in_batches(model, images).astype(np.float64)
    return outputs.reshape(-1) if num_outputs == 1 else outputs.reshape(len(images), num_outputs)


def run_in_batches(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """The model's outputs in inference mode, batch by batch, through one traced function per model and input shape.

    Not `model.predict`, which traces a new function for every model and floods the log with retracing warnings when a
    comparison trains fifteen of them, and takes 1.2x this function's CPU. The traced call takes three quarters of the
    CPU time of the eager `model(x)` it replaced, on one thread (benchmarks/bench_inference.py; benchmarks/README.md,
    "Inference traced once per model"). Grappler's fusion of the output layer's matmul, bias and sigmoid moves some
    sigmoid outputs by a float32 unit (1.8e-7 measured) against the eager call; every xgan command scores through this
    function alike.
    """
    # Converted batch by batch: a whole split as float32 would be 4x its (memory-mapped) uint8 size.
    batch = predict_batch_size(int(images.shape[1]))
    outputs = []
    for start in range(0, len(images), batch):
        inputs = to_model_input(images[start:start + batch])
        # One trace per model and input shape, any batch size: the last, smaller batch of a split reuses it.
        function = inference_function(model, inputs.shape[1:], input_signature=[tf.TensorSpec((None, *inputs.shape[1:]), tf.float32)])
        outputs.append(function(inputs).numpy())
    return np.concatenate(outputs)


def penultimate_features(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Activations of the layer named "penultimate" (the last hidden dense layer), (N, D) float32."""
    try:
        layer = model.get_layer(PENULTIMATE_LAYER)
    except ValueError:
        raise invalid_argument("model", f"a classifier with a layer named {PENULTIMATE_LAYER!r}", received=f"model {model.name!r}", error=ValueError) from None
    extractor = keras.Model(model.input, layer.output, name="penultimate_features")
    if len(images) == 0:
        return np.zeros((0, layer.output.shape[-1]), np.float32)
    return run_in_batches(extractor, images).astype(np.float32).reshape(len(images), -1)
