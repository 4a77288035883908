"""Speed of xgan's DCGAN against a plain Keras DCGAN, in one process, with ratios.

Times, after start-up (tracing, first steps) and interleaved in rounds so that other load on the
machine hits both alike:

1. training steps of the default 64 px model as `xgan train` runs it (`gan.fit.build_model`);
2. the same architecture trained the way a typical user writes it (keras-io's
   `dcgan_overriding_train_step`: a `keras.Model` subclass with a custom `train_step`, run by
   `fit` on a `tf.data` pipeline, default `compile()` settings, Keras' own layers);
3. sampling 400 images: `xgan.gan.generate_images` and the whole `sample_to_folder` (PNGs,
   manifest, contact sheet), against `generator.predict` for the reference;
4. a large float32 matmul, the machine's practical peak, and the models' achieved GFLOP/s as a
   fraction of it (FLOPs counted analytically by `gan.models.count_training_flops`).

Other processes on the machine slow some rounds down: the median shows typical speed under that
load, the best round the speed with the machine (nearly) to itself. Run it more than once.

Run from the repository root:  python benchmarks/bench_gan.py [--rounds 15] [--steps 4]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

# oneDNN is TensorFlow's default on x86 Linux; say so explicitly, before TensorFlow is imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from xgan.gan.config import GanConfig  # noqa: E402
from xgan.gan.fit import build_model  # noqa: E402
from xgan.gan.models import count_training_flops  # noqa: E402
from xgan.gan.sample import generate_images  # noqa: E402

NUM_SAMPLES = 400


# ---- The reference: keras-io's dcgan_overriding_train_step, with this project's architecture ----

def reference_discriminator(size: int, width: int) -> keras.Model:
    model = keras.Sequential([keras.Input((size, size, 1))], name="discriminator")
    channels = width
    for index in range(int(np.log2(size // 4))):
        model.add(layers.Conv2D(channels, 4, strides=2, padding="same", use_bias=index == 0))
        if index > 0:
            model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU(negative_slope=0.2))
        channels *= 2
    model.add(layers.Conv2D(1, 4, padding="valid"))
    model.add(layers.Flatten())
    return model


def reference_generator(size: int, latent_dim: int, width: int) -> keras.Model:
    num = int(np.log2(size // 4))
    channels = width * 2 ** (num - 1)
    model = keras.Sequential([keras.Input((latent_dim,)), layers.Dense(4 * 4 * channels, use_bias=False),
                              layers.Reshape((4, 4, channels)), layers.BatchNormalization(), layers.ReLU()], name="generator")
    for _ in range(num - 1):
        channels //= 2
        model.add(layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False))
        model.add(layers.BatchNormalization())
        model.add(layers.ReLU())
    model.add(layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh"))
    return model


class ReferenceGAN(keras.Model):
    """keras-io's GAN class (Keras 3 version), with `training=True` so batch norm trains."""

    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn
        self.d_loss_metric = keras.metrics.Mean(name="d_loss")
        self.g_loss_metric = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.d_loss_metric, self.g_loss_metric]

    def train_step(self, real_images):
        batch_size = tf.shape(real_images)[0]
        random_latent_vectors = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        generated_images = self.generator(random_latent_vectors, training=True)
        combined_images = tf.concat([generated_images, real_images], axis=0)
        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * tf.random.uniform(tf.shape(labels))
        with tf.GradientTape() as tape:
            predictions = self.discriminator(combined_images, training=True)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        random_latent_vectors = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        misleading_labels = tf.zeros((batch_size, 1))
        with tf.GradientTape() as tape:
            predictions = self.discriminator(self.generator(random_latent_vectors, training=True), training=True)
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.d_loss_metric.update_state(d_loss)
        self.g_loss_metric.update_state(g_loss)
        return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}


def reference_flops_per_step(config: GanConfig) -> float:
    """The reference runs the generator forward twice per step (once per update)."""
    flops = count_training_flops(config.image_size, config.latent_dim, config.width, config.batch_size)
    return flops["train_step"] + flops["generator_forward_per_image"] * config.batch_size


# ---- Measurements ----

def timed(function) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def matmul_gflops(size: int = 2048, repeats: int = 10, rounds: int = 5) -> float:
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    multiply = tf.function(lambda: tf.matmul(a, b))
    multiply().numpy()
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            result = multiply()
        result.numpy()
        best = max(best, 2 * size ** 3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def describe(values: list[float]) -> str:
    return f"median {statistics.median(values):7.3f}  min {min(values):7.3f}  max {max(values):7.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds (more on a busy machine)")
    parser.add_argument("--steps", type=int, default=4, help="training steps per model per round")
    parser.add_argument("--size", type=int, default=64, help="image size (32, 64 or 128)")
    parser.add_argument("--width", type=int, default=64, help="network width")
    args = parser.parse_args()

    config = GanConfig(image_size=args.size, width=args.width)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, config.image_size, config.image_size), dtype=np.uint8)

    ours = build_model(config, images)
    placeholder = tf.data.Dataset.from_tensors(np.int32(0)).repeat()
    reference = ReferenceGAN(reference_discriminator(config.image_size, config.width),
                             reference_generator(config.image_size, config.latent_dim, config.width), config.latent_dim)
    reference.compile(keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1),
                      keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1),
                      keras.losses.BinaryCrossentropy(from_logits=True))
    real = tf.data.Dataset.from_tensor_slices(images[..., None].astype("float32") / 127.5 - 1.0)
    real = real.shuffle(1024).batch(config.batch_size, drop_remainder=True).repeat()
    for mine, theirs in ((ours.generator, reference.generator), (ours.discriminator, reference.discriminator)):
        assert mine.count_params() == theirs.count_params(), (mine.name, mine.count_params(), theirs.count_params())

    def train_ours():
        ours.fit(placeholder, epochs=1, steps_per_epoch=args.steps, verbose=0, shuffle=False)

    def train_reference():
        with warnings.catch_warnings():  # keras' note that shuffle=True is ignored for a tf.data pipeline
            warnings.simplefilter("ignore", UserWarning)
            reference.fit(real, epochs=1, steps_per_epoch=args.steps, verbose=0)

    latents = np.random.default_rng(1).standard_normal((NUM_SAMPLES, config.latent_dim), dtype=np.float32)
    sample_dir = Path(tempfile.mkdtemp(prefix="bench_gan_"))

    def sample_ours():
        generate_images(ours.ema_generator, NUM_SAMPLES, 0, config.latent_dim)

    def sample_reference():
        reference.generator.predict(latents, verbose=0)

    def sample_folder_ours():
        from xgan.gan.preview import grid_columns, make_image_grid
        from xgan.gan.sample import CONTACT_SHEET, _manifest_text
        from xgan.images import write_png
        from xgan.runs import write_text

        generated = generate_images(ours.ema_generator, NUM_SAMPLES, 0, config.latent_dim)
        rows = []
        for index, image in enumerate(generated):
            name = f"gen_s0_{index:05d}.png"
            write_png(sample_dir / name, image)
            rows.append({"file": name, "label": "covid", "index": index})
        write_png(sample_dir / CONTACT_SHEET, make_image_grid(generated, grid_columns(len(generated))))
        write_text(sample_dir / "manifest.csv", _manifest_text(rows))

    start_up = {}
    for name, function in (("ours", train_ours), ("reference", train_reference), ("sample ours", sample_ours),
                           ("sample reference", sample_reference), ("sample folder ours", sample_folder_ours)):
        start_up[name] = timed(function)[0]
    gflops_peak = matmul_gflops()

    results = {name: [] for name in ("ours", "reference", "ours cpu", "reference cpu", "sample ours",
                                     "sample reference", "sample folder ours")}
    for _ in range(args.rounds):
        for name, function in (("ours", train_ours), ("reference", train_reference)):
            wall, cpu = timed(function)
            results[name].append(args.steps / wall)
            results[f"{name} cpu"].append(cpu / args.steps)
        for name, function in (("sample ours", sample_ours), ("sample reference", sample_reference),
                               ("sample folder ours", sample_folder_ours)):
            results[name].append(timed(function)[0])
    paired = [a / b for a, b in zip(results["ours"], results["reference"])]
    gflops_peak = max(gflops_peak, matmul_gflops())

    flops = count_training_flops(config.image_size, config.latent_dim, config.width, config.batch_size)
    ours_rate, reference_rate = statistics.median(results["ours"]), statistics.median(results["reference"])
    print(f"DCGAN {config.image_size} px, width {config.width}, batch {config.batch_size}, latent {config.latent_dim}; "
          f"{args.rounds} rounds x {args.steps} steps; TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ['TF_ENABLE_ONEDNN_OPTS']}, {os.cpu_count()} CPUs")
    print(f"start-up (first call, tracing): ours {start_up['ours']:.1f} s, reference {start_up['reference']:.1f} s")
    print(f"training steps/s   ours       {describe(results['ours'])}")
    print(f"training steps/s   reference  {describe(results['reference'])}")
    print(f"CPU s per step     ours {statistics.median(results['ours cpu']):.3f}, reference {statistics.median(results['reference cpu']):.3f}")
    ours_best, reference_best = max(results["ours"]), max(results["reference"])
    print(f"training speed-up  ours/reference: medians {ours_rate / reference_rate:.2f}x, best rounds "
          f"{ours_best / reference_best:.2f}x (per round: {describe(paired)})")
    print(f"sampling {NUM_SAMPLES} images   ours generate_images {describe(results['sample ours'])} s")
    print(f"sampling {NUM_SAMPLES} images   ours with PNGs, manifest, contact sheet {describe(results['sample folder ours'])} s")
    print(f"sampling {NUM_SAMPLES} images   reference generator.predict {describe(results['sample reference'])} s; "
          f"speed-up {statistics.median(results['sample reference']) / statistics.median(results['sample ours']):.2f}x")
    print(f"matmul 2048x2048 float32: {gflops_peak:.0f} GFLOP/s (best)")
    for label, ours_steps, reference_steps in (("median", ours_rate, reference_rate), ("best", ours_best, reference_best)):
        ours_gflops = flops["train_step"] * ours_steps / 1e9
        reference_gflops = reference_flops_per_step(config) * reference_steps / 1e9
        print(f"achieved ({label} rounds): ours {ours_gflops:.0f} GFLOP/s = {ours_gflops / gflops_peak:.0%} of matmul "
              f"({flops['train_step'] / 1e9:.1f} GFLOP/step); reference {reference_gflops:.0f} GFLOP/s = "
              f"{reference_gflops / gflops_peak:.0%} ({reference_flops_per_step(config) / 1e9:.1f} GFLOP/step)")
    print("What differs: ours = xgan's step (DiffAugment translation/cutout/brightness/contrast on real and fake, "
          "EMA generator update, discriminator accuracies, one generator forward pass shared by both updates, "
          "oneDNN fused batch norm, in-model uint8 images); reference = keras-io's step (no augmentation, no EMA, "
          "two generator forward passes, Keras batch norm, real batch and fakes concatenated through the "
          "discriminator, 0.05 label noise, tf.data pipeline). Same layers, parameters, batch and optimizer.")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
