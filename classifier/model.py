"""The CNN: convolution blocks with batch normalization, dense layers with dropout, one sigmoid output; or, with
`ClassifierConfig.backbone`, a keras.applications family (`backbones.py`) under the same dense head.

The model takes raw 0-255 gray pixels of shape (size, size, 1) and returns the probability of the
positive class (with three or more classes: a softmax, one probability per class), so a saved model
needs no preprocessing code beside it.
"""

import keras
from keras import layers

from ..runtime.batch_norm import FusedBatchNormalization
from ..runtime.precision import OUTPUT_DTYPE, precision_policy
from .backbones import BACKBONE_LAYER, CNN, build_backbone, is_pretrained, preprocessing_layers
from .config import ClassifierConfig

PENULTIMATE_LAYER = "penultimate"
# Keras' default 0.99 needs hundreds of steps before the inference statistics settle; a small X-ray set
# gives a dozen steps per epoch, and early epochs would be scored with statistics still near their
# initial values (every image called one class).
BATCH_NORM_MOMENTUM = 0.9

# Classic augmentation for chest X-rays. No flips: a mirrored radiograph puts the heart on the right
# (dextrocardia), an image the test set never holds, and the side markers would read backwards. Small
# rotations, shifts and zooms mimic patient positioning; contrast jitter mimics exposure differences.
ROTATION_FACTOR = 10 / 360  # +-10 degrees, as a fraction of a full turn
TRANSLATION_FACTOR = 0.05  # +-5 % of the side
ZOOM_FACTOR = 0.1  # +-10 %
CONTRAST_FACTOR = 0.1  # +-10 %


def build_augmentation(seed: int = 0) -> list[keras.layers.Layer]:
    """The classic-augmentation layers; active only in training, the identity at inference.

    Border pixels are filled with black (0), as the edges of a radiograph are, rather than mirrored.
    """
    geometry = {"fill_mode": "constant", "fill_value": 0.0}
    return [
        layers.RandomRotation(ROTATION_FACTOR, seed=seed, name="augment_rotation", **geometry),
        layers.RandomTranslation(TRANSLATION_FACTOR, TRANSLATION_FACTOR, seed=seed + 1, name="augment_translation", **geometry),
        layers.RandomZoom(ZOOM_FACTOR, seed=seed + 2, name="augment_zoom", **geometry),
        layers.RandomContrast(CONTRAST_FACTOR, value_range=(0, 255), seed=seed + 3, name="augment_contrast"),
    ]


def build_classifier(config: ClassifierConfig, fused_batch_norm: bool = False) -> keras.Model:
    """Build (uncompiled) the CNN of `config`, or its transfer-learning backbone (`config.backbone`).

    Convolution blocks use ReLU; hidden dense layers use LeakyReLU, so the penultimate features keep
    a (scaled) negative part rather than being clipped to zero. The last hidden activation is the
    layer named "penultimate". With `config.precision` "mixed" the layers compute in float16 and
    the output is float32; `compile` then adds loss scaling by itself (see `precision.py`).

    With `fused_batch_norm` the CNN's batch normalization trains through TensorFlow's fused kernel
    (`runtime.batch_norm`): the same variables and the same inference pass, a training step a quarter cheaper on CPU.
    `train_classifier` trains through such a model (its stand-in) and hands the state to the plain one, so a saved
    model.keras holds only plain Keras layers. Backbones keep their applications' own layers.

    Raises:
        UserError: pretrained weights that cannot be had (a failed download, a file that does not fit).
    """
    with precision_policy(config.precision):
        if config.backbone == CNN:
            return _build_layers(config, FusedBatchNormalization if fused_batch_norm else layers.BatchNormalization)
        return _build_transfer(config)


def _build_layers(config: ClassifierConfig, batch_norm: type[layers.BatchNormalization]) -> keras.Model:
    inputs = keras.Input((config.image_size, config.image_size, 1), name="image")
    x = inputs
    if config.augment:
        for layer in build_augmentation(config.seed):
            x = layer(x)
    x = layers.Rescaling(1 / 255, name="rescale")(x)
    for block, filters in enumerate(config.conv_filters, start=1):
        # The convolution's bias would be cancelled by the batch normalization's shift.
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv_{block}")(x)
        # Under a tf.distribute strategy of several replicas: statistics of the global batch, as on one device.
        x = batch_norm(momentum=BATCH_NORM_MOMENTUM, synchronized=_num_replicas() > 1, name=f"batch_norm_{block}")(x)
        x = layers.ReLU(name=f"relu_{block}")(x)
        x = layers.MaxPooling2D(2, name=f"pool_{block}")(x)
    x = layers.Flatten(name="flatten")(x)
    return _head(inputs, x, config)


def _build_transfer(config: ClassifierConfig) -> keras.Model:
    """Gray pixels -> three equal channels -> the family's preprocessing -> its convolutional part -> pooled -> the CNN's dense head.

    A pretrained backbone's batch-normalization layers are kept in inference mode, as Keras' transfer-learning
    guide asks, while frozen and after unfreezing alike (`set_backbone_trainable`), so fine-tuning does not
    wreck the ImageNet (or file's) statistics. Keras 3 overrides a `training=False` given when the functional
    model is built with fit's training=True, so the guide's call argument alone would not do it; a batch
    normalization layer that is not trainable runs in inference mode. A backbone trained from scratch has no
    statistics worth keeping: its batch normalization trains as usual, with the CNN's momentum (BATCH_NORM_MOMENTUM).
    """
    inputs = keras.Input((config.image_size, config.image_size, 1), name="image")
    x = inputs
    if config.augment:
        for layer in build_augmentation(config.seed):
            x = layer(x)
    x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    for layer in preprocessing_layers(config.backbone):
        x = layer(x)
    backbone = build_backbone(config.backbone, config.image_size, config.weights)
    set_backbone_trainable(backbone, True, keep_batch_norm=is_pretrained(config.weights))
    if not is_pretrained(config.weights):
        # From scratch, as the CNN's: MobileNetV3's 0.999 (0.99 elsewhere) leaves the inference statistics 75 % at their
        # initial values after 300 steps, and a model scored with them calls every film one class.
        for layer in backbone.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = BATCH_NORM_MOMENTUM
    x = backbone(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return _head(inputs, x, config)


def backbone_of(model: keras.Model) -> keras.Model | None:
    """The nested application model of a backbone classifier; None for the CNN."""
    try:
        return model.get_layer(BACKBONE_LAYER)
    except ValueError:
        return None


def set_backbone_trainable(backbone: keras.Model, trainable: bool, keep_batch_norm: bool) -> None:
    """Freeze or unfreeze a backbone; with `keep_batch_norm` its batch-normalization layers stay frozen (inference mode) either way."""
    backbone.trainable = trainable
    if keep_batch_norm:
        for layer in backbone.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.trainable = False


def _head(inputs, x, config: ClassifierConfig) -> keras.Model:
    """The dense layers with dropout and the output on features `x`; the whole model from `inputs`."""
    for index, units in enumerate(config.dense_units, start=1):
        last = index == len(config.dense_units)
        x = layers.Dense(units, name=f"dense_{index}")(x)
        x = layers.LeakyReLU(config.leaky_relu_slope, name=PENULTIMATE_LAYER if last else f"leaky_relu_{index}")(x)
        x = layers.Dropout(config.dropout, seed=config.seed + 10 + index, name=f"dropout_{index}")(x)
    if config.is_multiclass:
        outputs = layers.Dense(config.num_outputs, activation="softmax", dtype=OUTPUT_DTYPE, name="output")(x)
    else:
        outputs = layers.Dense(1, activation="sigmoid", dtype=OUTPUT_DTYPE, name="output")(x)
    return keras.Model(inputs, outputs, name="xray_classifier")


# The plateau schedule: the learning rate halves after this many epochs without a lower val_loss.
PLATEAU_FACTOR = 0.5
PLATEAU_PATIENCE = 3


def _num_replicas() -> int:
    """Replicas of the tf.distribute strategy whose scope the model is built in (1 outside any)."""
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def build_optimizer(config: ClassifierConfig, steps_per_epoch: int = 1) -> keras.optimizers.Optimizer:
    """SGD with momentum (the study's) or Adam, with the config's schedule.

    "constant" applies Keras-legacy inverse time decay when `lr_decay` > 0; "cosine" decays to 0 over
    `epochs * steps_per_epoch` steps; "plateau" is a constant rate that a callback lowers (see `train.py`).
    """
    learning_rate = config.learning_rate
    if config.schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=max(1, config.epochs * steps_per_epoch))
    elif config.lr_decay > 0:
        learning_rate = keras.optimizers.schedules.InverseTimeDecay(config.learning_rate, decay_steps=1, decay_rate=config.lr_decay)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=config.momentum)
    return keras.optimizers.Adam(learning_rate)


def compile_classifier(model: keras.Model, config: ClassifierConfig, jit_compile="auto", steps_per_epoch: int = 1,
                       steps_per_execution: int = 1) -> keras.Model:
    """Compile with binary cross-entropy and accuracy (sparse categorical ones with three or more classes); returns the model.

    On two CPU cores XLA (`jit_compile=True`) measured slower here: 12 s of compiling per model and
    slower epochs, so "auto" (no XLA on CPU) is the default. `steps_per_execution` is Keras' (`execution_steps`).
    """
    model.compile(
        optimizer=build_optimizer(config, steps_per_epoch),
        loss=(keras.losses.SparseCategoricalCrossentropy() if config.is_multiclass
              else keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing)),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy") if config.is_multiclass
                 else keras.metrics.BinaryAccuracy(name="accuracy")],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model


# Training steps per call of the traced step (Keras' `steps_per_execution`) for the CNN: this many pixels' worth of
# batches, 32 steps at 32 px, 8 at 64 px, 1 from 182 px. The same steps in a loop inside one call, so the same weights
# to the bit, without the per-step Python and dispatch of `fit`: 0.84-0.88 of the training CPU at 32 px
# (benchmarks/bench_same_bits.py; benchmarks/README.md, "Pooling first and several steps per call"). Bounded so that
# one call stays short (32 steps at 32 px: about 0.35 s there, 1.6 s for 150 steps): a stopped worker unwinds between
# calls (runtime/workers.py gives it STOP_SECONDS), and Ctrl-C waits for the call to end.
EXECUTION_PIXELS = 32 * 32 * 32


def execution_steps(config: ClassifierConfig) -> int:
    """Keras' `steps_per_execution` for training `config`'s network: EXECUTION_PIXELS // pixels for the CNN, 1 for a backbone
    (heavier steps: its per-step overhead is no matter)."""
    if config.backbone != CNN:
        return 1
    return max(1, EXECUTION_PIXELS // (config.image_size * config.image_size))
