"""Building the compiled `DCGAN` for a config and running `fit` on it."""

import keras
import numpy as np
import tensorflow as tf

from ..runtime.distribute import input_options
from ..runtime.precision import loss_scaled, precision_policy
from .config import GanConfig
from .conditional import ConditionalDCGAN
from .conditional_models import build_conditional_generator, build_projection_discriminator
from .dcgan import DCGAN
from .diffusion import WEIGHT_DECAY, DiffusionModel, build_unet
from .models import build_discriminator, build_generator


def build_model(config: GanConfig, training_images: np.ndarray, training_labels: np.ndarray | None = None,
                class_names: list[str] | None = None) -> DCGAN | DiffusionModel:
    """The networks, the DCGAN (or with `--model ddim` the diffusion model) around them and its optimizers, all
    created from the config's seed.

    With `config.conditional`, a `ConditionalDCGAN` on `training_labels` (indices into `class_names`).
    The optimizers' variables exist on return, so a checkpoint can be restored into them. Called
    inside `strategy.scope()`, every variable is created under that tf.distribute strategy. With
    `config.precision` "mixed" the networks compute in float16 and the optimizers scale the losses
    (`precision.py`); the global dtype policy is left as it was.
    """
    keras.utils.set_random_seed(config.seed)
    if config.model == "ddim":
        return _build_diffusion(config, training_images)
    with precision_policy(config.precision):
        model = _build_dcgan(config, training_images, training_labels, class_names)
    model.compile(
        d_optimizer=loss_scaled(keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1), config.precision),
        g_optimizer=loss_scaled(keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1), config.precision),
        # XLA compiles convolutions without oneDNN on CPU, which measured slower here; the graph
        # runs oneDNN's kernels instead (see benchmarks/bench_gan.py).
        jit_compile=False,
    )
    model.build_optimizers()
    return model


def _build_diffusion(config: GanConfig, training_images: np.ndarray) -> DiffusionModel:
    """The diffusion model of `--model ddim`, compiled with AdamW (keras-io's weight decay), its variables built."""
    network = build_unet(config.image_size, config.width, name="unet")
    ema_network = build_unet(config.image_size, config.width, name="ema_unet")
    model = DiffusionModel(network, ema_network, training_images, sampling_steps=config.sampling_steps,
                           batch_size=config.batch_size, ema_kimg=config.ema_kimg, ema_rampup=config.ema_rampup, seed=config.seed,
                           name="diffusion")
    model.compile(optimizer=keras.optimizers.AdamW(config.learning_rate, beta_1=config.beta_1, weight_decay=WEIGHT_DECAY),
                  jit_compile=False)
    model.build_optimizers()
    return model


def _build_dcgan(config: GanConfig, training_images: np.ndarray, training_labels: np.ndarray | None,
                 class_names: list[str] | None) -> DCGAN:
    options = {"batch_size": config.batch_size, "augment_policy": config.augment, "ema_kimg": config.ema_kimg,
               "ema_rampup": config.ema_rampup, "seed": config.seed, "loss": config.loss, "r1_gamma": config.r1_gamma,
               "ada_target": config.ada_target, "ada_kimg": config.ada_kimg}
    if config.conditional:
        num_classes = len(class_names)
        generator = build_conditional_generator(config.image_size, config.latent_dim, config.width, num_classes, seed=config.seed)
        discriminator = build_projection_discriminator(config.image_size, config.width, num_classes, seed=config.seed + 1)
        model = ConditionalDCGAN(generator, discriminator, training_images, training_labels, class_names, **options,
                                 name="conditional_dcgan")
    else:
        generator = build_generator(config.image_size, config.latent_dim, config.width, seed=config.seed, upsample=config.upsample)
        discriminator = build_discriminator(config.image_size, config.width, seed=config.seed + 1,
                                            spectral_norm=config.spectral_norm, minibatch_std=config.minibatch_std)
        freeze_discriminator_layers(discriminator, config.freeze_d)
        model = DCGAN(generator, discriminator, training_images, **options, name="dcgan")
    return model


def freeze_discriminator_layers(discriminator: keras.Model, num_frozen: int) -> list[str]:
    """FreezeD (Mo et al. 2020): the first `num_frozen` downsampling blocks (convolution, batch norm) stop training.

    Frozen batch norm layers normalise with their moving statistics. Returns the frozen layers' names.
    """
    frozen = []
    for layer in discriminator.layers:
        block = layer.name.split("_")[0]
        if block.startswith("down") and block[4:].isdigit() and int(block[4:]) <= num_frozen and layer.weights:
            layer.trainable = False
            frozen.append(layer.name)
    return frozen


def fit_model(model: DCGAN, config: GanConfig, num_epochs: int, initial_epoch: int, num_images: int, callbacks) -> None:
    """Run `fit` from `initial_epoch` to `num_epochs`.

    The model draws its own batches, so fit's data is a placeholder stream; an epoch is
    `max(1, num_images // batch_size)` steps. Under a tf.distribute strategy the placeholder holds
    one (ignored) latent vector per replica, so that each replica gets a batch of one, and is not
    sharded between workers.
    """
    steps = max(1, num_images // config.batch_size)
    num_replicas = model.distribute_strategy.num_replicas_in_sync
    placeholder = tf.data.Dataset.from_tensors(np.zeros((num_replicas, model.latent_dim), np.float32)).repeat()
    model.fit(placeholder.with_options(input_options("OFF")), epochs=num_epochs, initial_epoch=initial_epoch, steps_per_epoch=steps,
              callbacks=list(callbacks), verbose=0, shuffle=False)
