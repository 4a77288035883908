"""`DCGAN`: the adversarial training step, as a `keras.Model` driven by `fit`.

The training images live inside the model as one uint8 tensor, and every random draw (batch
order, latents, augmentation) comes from the model's `SeedGenerator`, whose state is a variable.
So a whole step, augmentation and weight averaging included, compiles into one XLA program, and
the model's variables plus the optimizers' are the complete training state: saving and restoring
them resumes a run exactly.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from ..errors import invalid_argument
from .augment import augment
from .config import parse_policy


class DCGAN(keras.Model):
    """Generator, discriminator and an exponential moving average (EMA) of the generator.

    Attributes a callback may use (`self.model` inside a keras Callback):
        generator: the generator being trained (batch-norm statistics of the current batch).
        ema_generator: the weight average, the one to sample from; same inputs and outputs.
        discriminator: maps (batch, size, size, 1) images in [-1, 1] to logits.
        latent_dim, image_size: the generator's input length and output side.
        training_images: (N, size, size) uint8, the real images the GAN learns from.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, training_images: np.ndarray, *,
                 batch_size: int = 32, augment_policy: str = "", ema_kimg: float = 1.0,
                 ema_rampup: float = 0.05, seed: int = 0, loss: str = "bce", r1_gamma: float = 0.0,
                 ada_target: float | None = None, ada_kimg: float = 20.0, **kwargs):
        super().__init__(**kwargs)
        images = checked_training_images(training_images)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = keras.models.clone_model(generator)
        self.ema_generator.name = "ema_generator"
        self.ema_generator.set_weights(generator.get_weights())
        self.latent_dim = int(generator.inputs[0].shape[-1])  # a conditional generator's second input is the label
        self.image_size = int(generator.output_shape[1])
        self.training_images = images
        self.batch_size = int(batch_size)
        self.augment_policy = parse_policy(augment_policy)
        self.ema_kimg = float(ema_kimg)
        self.ema_rampup = float(ema_rampup)
        self.seed_generator = keras.random.SeedGenerator(seed, name="training_seed")
        self._real_pool = tf.constant(images[..., None])
        self.loss_name = loss
        self.r1_gamma = float(r1_gamma)
        self.ada_target = ada_target
        self.ada_kimg = float(ada_kimg)
        # The adaptive augmentation probability is training state like the weights: saved and restored with them.
        self.augment_probability = (keras.Variable(0.0, trainable=False, name="augment_probability")
                                    if ada_target is not None else None)

    def compile(self, d_optimizer: keras.optimizers.Optimizer, g_optimizer: keras.optimizers.Optimizer,
                loss_fn: keras.losses.Loss | None = None, **kwargs):
        """Set the two optimizers and the loss (default: binary cross-entropy on logits).

        Extra keyword arguments (`jit_compile`, `steps_per_execution`) go to `keras.Model.compile`.
        """
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn or keras.losses.BinaryCrossentropy(from_logits=True)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_accuracy_tracker = keras.metrics.Mean(name="d_real_acc")
        self.d_fake_accuracy_tracker = keras.metrics.Mean(name="d_fake_acc")
        self.extra_trackers = []
        if self.r1_gamma > 0:
            self.r1_tracker = keras.metrics.Mean(name="r1_penalty")
            self.extra_trackers.append(self.r1_tracker)
        if self.augment_probability is not None:
            self.augment_probability_tracker = keras.metrics.Mean(name="augment_p")
            self.extra_trackers.append(self.augment_probability_tracker)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_accuracy_tracker, self.d_fake_accuracy_tracker,
                *getattr(self, "extra_trackers", [])]

    def build_optimizers(self) -> None:
        """Create the optimizers' variables now (before the first step), so a checkpoint can fill them."""
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def call(self, latents, training=False):
        return self.ema_generator(latents, training=training)

    def sample_real_batch(self):
        """A batch of training images in [-1, 1]: a random permutation, repeated if there are fewer images than the batch."""
        return draw_real_batch(self._real_pool, len(self.training_images), self.batch_size, self.seed_generator)

    def sample_training_batch(self):
        """(real images, their labels): labels are None for this unconditional model."""
        return self.sample_real_batch(), None

    def generate(self, latents, labels, training=False):
        """The generator's images for `latents` (`labels` is for conditional subclasses)."""
        del labels
        return self.generator(latents, training=training)

    def discriminate(self, images, labels, training=False):
        """The discriminator's logits for `images` (`labels` is for conditional subclasses)."""
        del labels
        return self.discriminator(images, training=training)

    def train_step(self, data):
        # `data` is a placeholder from fit's iterator: the real batch comes from the model itself.
        del data
        # Under a tf.distribute strategy every replica draws the whole (global) batch's random numbers
        # from the same seed state and keeps its own slice of it, so R replicas take the very step
        # one device takes (see distribute.py); without one, the slice is the whole batch.
        replica, num_replicas = _replica()
        per_replica = self.batch_size // num_replicas
        start = replica * per_replica
        real_images, labels = self.sample_training_batch()
        real_images = _rows(real_images, start, per_replica, num_replicas)
        if labels is not None:
            labels = _rows(labels, start, per_replica, num_replicas)
        latents = _rows(keras.random.normal((self.batch_size, self.latent_dim), seed=self.seed_generator), start, per_replica, num_replicas)
        ones = tf.ones((per_replica, 1))
        zeros = tf.zeros((per_replica, 1))

        def augmented(images):
            return self._augment_slice(images, start, per_replica, num_replicas)

        # One generator forward pass serves both updates, as in the reference DCGAN code; the
        # generator tape must see it, the discriminator update must not.
        with tf.GradientTape() as g_tape:
            # Fakes take the real batch's labels, so both halves of D's batch have the same class mix.
            fake_images = self.generate(latents, labels, training=True)
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    augmented_real = augmented(real_images)
                    if self.r1_gamma > 0:
                        # R1 (Mescheder et al. 2018): the squared gradient of D at real images, itself differentiated
                        # by the outer tape.
                        with tf.GradientTape() as r1_tape:
                            r1_tape.watch(augmented_real)
                            real_logits = self.discriminate(augmented_real, labels, training=True)
                            logit_sum = tf.reduce_sum(tf.cast(real_logits, "float32"))
                        real_gradients = r1_tape.gradient(logit_sum, augmented_real)
                        r1_penalty = tf.reduce_mean(tf.reduce_sum(tf.square(tf.cast(real_gradients, "float32")), axis=[1, 2, 3]))
                    else:
                        real_logits = self.discriminate(augmented_real, labels, training=True)
                    fake_logits = self.discriminate(augmented(tf.stop_gradient(fake_images)), labels, training=True)
                    d_loss = self._replica_loss(ones, real_logits, num_replicas) + self._replica_loss(zeros, fake_logits, num_replicas)
                    if self.r1_gamma > 0:
                        d_loss = d_loss + 0.5 * self.r1_gamma * r1_penalty / num_replicas
                    # Under mixed precision the optimizers are LossScaleOptimizers: the scaled loss keeps
                    # float16 gradients from underflowing, and `apply_gradients` divides them back.
                    scaled_d_loss = self.d_optimizer.scale_loss(d_loss)
                d_grads = d_tape.gradient(scaled_d_loss, self.discriminator.trainable_weights)
                self.d_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_weights))
            # Non-saturating generator loss against the updated discriminator.
            fooled_logits = self.discriminate(augmented(fake_images), labels, training=True)
            if self.loss_name == "hinge":
                g_loss = -tf.reduce_mean(tf.cast(fooled_logits, "float32")) / num_replicas
            else:
                g_loss = self._replica_loss(ones, fooled_logits, num_replicas)
            scaled_g_loss = self.g_optimizer.scale_loss(g_loss)
        g_grads = g_tape.gradient(scaled_g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_weights))
        self.update_ema()

        self.d_loss_tracker.update_state(d_loss * num_replicas)  # the replica's own mean, averaged over replicas
        self.g_loss_tracker.update_state(g_loss * num_replicas)
        self.d_real_accuracy_tracker.update_state(tf.reduce_mean(tf.cast(real_logits > 0, "float32")))
        self.d_fake_accuracy_tracker.update_state(tf.reduce_mean(tf.cast(fake_logits < 0, "float32")))
        if self.r1_gamma > 0:
            self.r1_tracker.update_state(r1_penalty)
        if self.augment_probability is not None:
            self.update_augment_probability(real_logits, num_replicas)
            self.augment_probability_tracker.update_state(self.augment_probability)
        return {m.name: m.result() for m in self.metrics}

    def update_augment_probability(self, real_logits, num_replicas: int):
        """StyleGAN2-ADA's rule: raise p when E[sign D(real)] exceeds the target (D overfits), lower it otherwise.

        One step moves p by batch_size / (ada_kimg * 1000), so it can cross [0, 1] in `ada_kimg`
        thousand images; the sign is averaged over the global batch.
        """
        overfitting = tf.reduce_mean(tf.sign(tf.cast(real_logits, "float32")))
        if num_replicas > 1:
            overfitting = tf.distribute.get_replica_context().all_reduce("mean", overfitting)
        step = tf.sign(overfitting - self.ada_target) * self.batch_size / (self.ada_kimg * 1000.0)
        self.augment_probability.assign(tf.clip_by_value(self.augment_probability + step, 0.0, 1.0))

    def _replica_loss(self, targets, logits, num_replicas: int):
        if self.loss_name == "hinge":
            # D's hinge loss: relu(1 - D(real)) + relu(1 + D(fake)), each averaged over this replica's slice.
            signs = 2.0 * tf.cast(targets, "float32") - 1.0
            return tf.reduce_mean(tf.nn.relu(1.0 - signs * tf.cast(logits, "float32"))) / num_replicas
        return self._cross_entropy(targets, logits, num_replicas)

    def _cross_entropy(self, targets, logits, num_replicas: int):
        """The loss of this replica's slice divided by the number of replicas.

        Gradients are summed over replicas, and 1/R of each replica's mean is the global batch's
        mean. Keras `Loss` objects divide by R themselves under a strategy (their default
        `sum_over_batch_size` reduction); a plain function gets it done here.
        """
        value = self.loss_fn(targets, logits)
        if num_replicas > 1 and not isinstance(self.loss_fn, keras.losses.Loss):
            value = value / num_replicas
        return value

    def _augment_slice(self, images, start, per_replica: int, num_replicas: int):
        """DiffAugment of this replica's slice with the random draws one device would give those images.

        The slice is padded to the global batch, so every draw has the shape it has on one device
        (and differs between replicas' images); the augmentation ops are cheap next to the networks.
        """
        probability = self.augment_probability
        if num_replicas == 1 or not self.augment_policy:
            return augment(images, self.augment_policy, self.seed_generator, probability)
        padded = tf.pad(images, [[start, self.batch_size - start - per_replica], [0, 0], [0, 0], [0, 0]])
        return _rows(augment(padded, self.augment_policy, self.seed_generator, probability), start, per_replica, num_replicas)

    def update_ema(self):
        """Move the EMA generator towards the generator, batch-norm statistics included.

        The half-life is `ema_kimg` thousand images, capped at `ema_rampup` times the images seen
        so far, so that a short run is not dominated by its random start (StyleGAN2-ADA's rule).
        """
        move_average(self.ema_generator.weights, self.generator.weights, self.g_optimizer.iterations, self.batch_size,
                     self.ema_kimg, self.ema_rampup)


def checked_training_images(training_images) -> np.ndarray:
    """The images a model learns from as an array, refused unless a non-empty (N, size, size) uint8 array."""
    images = np.asarray(training_images)
    if images.ndim != 3 or images.dtype != np.uint8 or len(images) == 0:
        raise invalid_argument("training_images", "a non-empty (N, size, size) uint8 array",
                               received=f"shape={images.shape}, dtype={images.dtype}", error=ValueError)
    return images


def draw_real_batch(pool, num_images: int, batch_size: int, seed_generator):
    """`batch_size` images of `pool` ((N, S, S, 1) uint8) in [-1, 1]: a random permutation, repeated if N < batch_size."""
    repeats = math.ceil(batch_size / num_images)
    keys = keras.random.uniform((repeats, num_images), seed=seed_generator)
    indices = tf.reshape(tf.argsort(keys, axis=-1), [-1])[:batch_size]
    return tf.cast(tf.gather(pool, indices), "float32") / 127.5 - 1.0


def move_average(averages, currents, iterations, batch_size: int, ema_kimg: float, ema_rampup: float) -> None:
    """Move each average variable towards its current one after `iterations` steps of `batch_size` images.

    The half-life is `ema_kimg` thousand images, capped at `ema_rampup` times the images seen so far
    (StyleGAN2-ADA's rule; 0 = no cap).
    """
    images_seen = tf.cast(iterations, "float32") * batch_size
    half_life = tf.constant(ema_kimg * 1000.0)
    if ema_rampup > 0:
        half_life = tf.minimum(half_life, images_seen * ema_rampup)
    beta = tf.where(half_life > 0, 0.5 ** (batch_size / tf.maximum(half_life, 1e-8)), 0.0)
    for average, current in zip(averages, currents):
        average.assign(current + (average - current) * tf.cast(beta, average.dtype))


def _replica():
    """(index of this replica, number of replicas) in the step being traced; (0, 1) without a strategy."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return 0, 1
    return context.replica_id_in_sync_group, context.num_replicas_in_sync


def _rows(batch, start, count: int, num_replicas: int):
    """Rows start .. start+count of a batch (the whole batch with one replica)."""
    if num_replicas == 1:
        return batch
    rank = len(batch.shape)
    rows = tf.slice(batch, [start] + [0] * (rank - 1), [count] + [-1] * (rank - 1))
    return tf.ensure_shape(rows, [count, *batch.shape[1:]])
