"""Can a small diffusion model beat the DCGAN on the held-out gap? Issue 21's prototype of another generator family.

A denoising diffusion model after keras-io's "Denoising Diffusion Implicit Models" (Keras 3): a residual
U-Net predicts the noise of a noisy image at a continuous diffusion time (cosine schedule, signal rates
0.95 to 0.02, mean absolute error on the noise, AdamW, an exponential moving average of the weights),
trained on the default study's minority class (PneumoniaMNIST, normal cut to 120 training films, 32 px,
the splits of `xgan info pneumoniamnist --minority-train 120 --splits FILE`), and sampled by DDIM
(deterministic, `--sampling-steps` network calls per image) from seeded numpy noise.

Each configuration is measured exactly as `bench_generator.py` measures the GAN variants: 500 samples written
as a synthetic folder (manifest.csv) and given to `xgan quality` with the same splits, the same 214 unseen
validation normal films, the same feature classifier (`--features-model`), copy threshold 0.95 against the
120 training films; CPU minutes of training (this process's user+system time) and of sampling the study's
1,314 images. Rows are appended to `<out>/results.jsonl` in bench_generator.py's format, so
`bench_generator.py --out <out> --table` prints them too. Nothing here reads the test split.

Run from the repository root (nice it on a shared machine):
    python -m xgan.cli info pneumoniamnist --minority-train 120 --splits samples/bench/splits120.json
    nice -n 10 python benchmarks/bench_diffusion.py --splits samples/bench/splits120.json --out samples/bench/diffusion \\
        --features-model samples/bench/features/feature_classifier/model.keras --configs ddim_small [--seeds 0]
    python benchmarks/bench_diffusion.py --out samples/bench/diffusion --table
"""

import argparse
import json
import math
import os
import resource
import sys
import time
from pathlib import Path

NUM_STUDY_SAMPLES = 1314  # what the default study samples (ratio 0.5)
NUM_QUALITY_IMAGES = 500
IMAGE_SIZE = 32
MAX_SIGNAL_RATE = 0.95  # keras-io's schedule: the least and the most noise a training image gets
MIN_SIGNAL_RATE = 0.02
EMBEDDING_DIMS = 32
SAMPLE_BATCH = 100

# name -> (changes to BASE, what it tests); "resample": NAME samples the model NAME trained (same seed) instead of training
BASE = {"widths": (16, 32, 64), "block_depth": 1, "batch_size": 32, "steps": 2000, "learning_rate": 1e-3,
        "weight_decay": 1e-4, "ema": 0.995, "sampling_steps": 20}
CONFIGS = {
    "ddim_small": ({}, "U-Net widths 16/32/64, 1 block a level (133k weights), 2,000 steps of 32, EMA 0.995, 20 DDIM steps"),
    "ddim_long": ({"steps": 4000}, "as ddim_small, 4,000 steps"),
    "ddim_keras_io": ({"widths": (32, 64, 96), "block_depth": 2}, "keras-io's U-Net (widths 32/64/96, 2 blocks a level), 2,000 steps"),
    "ddim_small_50": ({"sampling_steps": 50, "resample": "ddim_small"}, "ddim_small's trained model sampled with 50 DDIM steps"),
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def build_network(image_size: int, widths: tuple[int, ...], block_depth: int):
    """keras-io's residual U-Net: noisy image and noise variance in, predicted noise out."""
    import keras
    from keras import layers, ops

    def sinusoidal_embedding(variance):
        frequencies = ops.exp(ops.linspace(math.log(1.0), math.log(1000.0), EMBEDDING_DIMS // 2))
        angular_speeds = ops.cast(2.0 * math.pi * frequencies, "float32")
        return ops.concatenate([ops.sin(angular_speeds * variance), ops.cos(angular_speeds * variance)], axis=3)

    def residual_block(x, width):
        residual = x if x.shape[3] == width else layers.Conv2D(width, 1)(x)
        x = layers.BatchNormalization(center=False, scale=False)(x)
        x = layers.Conv2D(width, 3, padding="same", activation="swish")(x)
        x = layers.Conv2D(width, 3, padding="same")(x)
        return layers.Add()([x, residual])

    noisy_images = keras.Input((image_size, image_size, 1))
    noise_variances = keras.Input((1, 1, 1))
    embedding = layers.Lambda(sinusoidal_embedding, output_shape=(1, 1, EMBEDDING_DIMS))(noise_variances)
    embedding = layers.UpSampling2D(size=image_size, interpolation="nearest")(embedding)
    x = layers.Concatenate()([layers.Conv2D(widths[0], 1)(noisy_images), embedding])
    skips = []
    for width in widths[:-1]:
        for _ in range(block_depth):
            x = residual_block(x, width)
            skips.append(x)
        x = layers.AveragePooling2D(2)(x)
    for _ in range(block_depth):
        x = residual_block(x, widths[-1])
    for width in reversed(widths[:-1]):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        for _ in range(block_depth):
            x = residual_block(layers.Concatenate()([x, skips.pop()]), width)
    outputs = layers.Conv2D(1, 1, kernel_initializer="zeros")(x)
    return keras.Model([noisy_images, noise_variances], outputs, name="residual_unet")


def make_model_class():
    import keras
    from keras import ops

    class DiffusionModel(keras.Model):
        """Trains `network` to predict noise; `ema_network` (its moving average) denoises when sampling."""

        def __init__(self, network, ema_network, mean: float, std: float, ema: float, seed: int):
            super().__init__()
            self.network, self.ema_network = network, ema_network
            self.mean, self.std, self.ema = mean, std, ema
            self.seed_generator = keras.random.SeedGenerator(seed)
            self.noise_loss_tracker = keras.metrics.Mean(name="n_loss")

        @property
        def metrics(self):
            return [self.noise_loss_tracker]

        def diffusion_schedule(self, diffusion_times):
            start_angle = math.acos(MAX_SIGNAL_RATE)
            end_angle = math.acos(MIN_SIGNAL_RATE)
            angles = start_angle + diffusion_times * (end_angle - start_angle)
            return ops.sin(angles), ops.cos(angles)  # noise rates, signal rates

        def denoise(self, noisy_images, noise_rates, signal_rates, training):
            network = self.network if training else self.ema_network
            pred_noises = network([noisy_images, noise_rates ** 2], training=training)
            return pred_noises, (noisy_images - noise_rates * pred_noises) / signal_rates

        def train_step(self, images):
            images = (images - self.mean) / self.std
            shape = ops.shape(images)
            noises = keras.random.normal(shape, seed=self.seed_generator)
            times = keras.random.uniform((shape[0], 1, 1, 1), seed=self.seed_generator)
            noise_rates, signal_rates = self.diffusion_schedule(times)
            noisy_images = signal_rates * images + noise_rates * noises
            import tensorflow as tf

            with tf.GradientTape() as tape:
                pred_noises, _ = self.denoise(noisy_images, noise_rates, signal_rates, training=True)
                noise_loss = ops.mean(ops.abs(noises - pred_noises))
            gradients = tape.gradient(noise_loss, self.network.trainable_weights)
            self.optimizer.apply_gradients(zip(gradients, self.network.trainable_weights))
            for weight, ema_weight in zip(self.network.weights, self.ema_network.weights):
                ema_weight.assign(self.ema * ema_weight + (1 - self.ema) * weight)
            self.noise_loss_tracker.update_state(noise_loss)
            return {m.name: m.result() for m in self.metrics}

        def reverse_diffusion(self, initial_noise, diffusion_steps: int):
            step_size = 1.0 / diffusion_steps
            next_noisy = initial_noise
            ones = ops.ones_like(initial_noise[:, :1, :1, :1])
            for step in range(diffusion_steps):
                noisy = next_noisy
                times = ones * (1.0 - step * step_size)
                noise_rates, signal_rates = self.diffusion_schedule(times)
                pred_noises, pred_images = self.denoise(noisy, noise_rates, signal_rates, training=False)
                next_noise_rates, next_signal_rates = self.diffusion_schedule(times - step_size)
                next_noisy = next_signal_rates * pred_images + next_noise_rates * pred_noises
            return pred_images * self.std + self.mean

    return DiffusionModel


def build_model(images, settings: dict, seed: int):
    """An untrained diffusion model for (N, S, S) uint8 images (their mean and spread normalize the inputs)."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    data = images.astype(np.float32)[..., None] / 127.5 - 1.0
    mean, std = float(data.mean()), float(data.std())
    network = build_network(images.shape[1], settings["widths"], settings["block_depth"])
    ema_network = build_network(images.shape[1], settings["widths"], settings["block_depth"])
    ema_network.set_weights(network.get_weights())
    return make_model_class()(network, ema_network, mean, std, settings["ema"], seed), data


def train(images, settings: dict, seed: int):
    """Fit a diffusion model on (N, S, S) uint8 images; returns the model."""
    import keras
    import tensorflow as tf

    model, data = build_model(images, settings, seed)
    model.compile(optimizer=keras.optimizers.AdamW(settings["learning_rate"], weight_decay=settings["weight_decay"]))
    dataset = (tf.data.Dataset.from_tensor_slices(data).shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
               .repeat().batch(settings["batch_size"], drop_remainder=True).prefetch(2))
    epochs = 20
    model.fit(dataset, epochs=epochs, steps_per_epoch=settings["steps"] // epochs, verbose=2)
    return model


def sample(model, num_images: int, seed: int, sampling_steps: int):
    """(num_images, S, S) uint8 from seeded numpy noise, in batches of SAMPLE_BATCH (image i is the same for any count)."""
    import numpy as np
    import tensorflow as tf

    size = model.network.input_shape[0][1]
    noise = np.random.default_rng(seed).standard_normal((num_images, size, size, 1), dtype=np.float32)
    function = tf.function(lambda batch: model.reverse_diffusion(batch, sampling_steps))
    outputs = []
    for start in range(0, num_images, SAMPLE_BATCH):
        chunk = noise[start:start + SAMPLE_BATCH]
        padded = np.zeros((SAMPLE_BATCH, size, size, 1), np.float32)
        padded[:len(chunk)] = chunk
        images = function(tf.constant(padded)).numpy()[:len(chunk), ..., 0]
        outputs.append(np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8))
    return np.concatenate(outputs)


def previous_rows(out: Path) -> list[dict]:
    results = out / "results.jsonl"
    return [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []


def measure(name: str, seed: int, out: Path, splits: str, features_model: str | None) -> dict:
    from xgan.gan.data import load_training_data
    from xgan.gan.sample import write_synthetic_images
    from xgan.quality import QualityConfig, run_quality
    from bench_generator import quality_fields  # main() puts benchmarks/ on the path

    changes, description = CONFIGS[name]
    settings = BASE | changes
    data = load_training_data("pneumoniamnist", "normal", IMAGE_SIZE, splits)
    load_before = load_average()
    weights = out / "models" / f"{settings.get('resample', name)}-seed{seed}.ema.weights.h5"
    if "resample" in settings:
        trained = [row for row in previous_rows(out) if row["variant"] == settings["resample"] and row["seed"] == seed]
        if not trained or not weights.is_file():
            raise SystemExit(f"{name} samples the model {settings['resample']} trained with seed {seed}, and {out} has none; "
                             f"run --configs {settings['resample']} --seeds {seed} first")
        model, _ = build_model(data.images, settings, seed)
        model.ema_network.load_weights(weights)
        train_seconds, train_wall = 60 * trained[0]["train_cpu_min"], 60 * trained[0]["train_wall_min"]
    else:
        began, wall = cpu_seconds(), time.perf_counter()
        model = train(data.images, settings, seed)
        train_seconds, train_wall = cpu_seconds() - began, time.perf_counter() - wall
        weights.parent.mkdir(parents=True, exist_ok=True)
        model.ema_network.save_weights(weights)
    began = cpu_seconds()
    images = sample(model, NUM_STUDY_SAMPLES, seed, settings["sampling_steps"])
    sample_seconds = cpu_seconds() - began
    images = images[:NUM_QUALITY_IMAGES]  # image i of a seed does not depend on how many are drawn
    folder = out / "synthetic" / f"{name}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    write_synthetic_images(folder, [f"ddim_s{seed}_{i:05d}.png" for i in range(len(images))], images,
                           {"label": "normal", "dataset": Path(str(data.dataset.source)).name,
                            "dataset_fingerprint": data.dataset.fingerprint, "run": f"bench_diffusion {name}",
                            "checkpoint": "final", "checkpoint_step": settings["steps"], "seed": seed})
    quality_dir = out / "quality" / f"{name}-seed{seed}"
    run_quality(QualityConfig(synthetic=str(folder), data="pneumoniamnist", splits=splits, class_name="normal",
                              num_images=NUM_QUALITY_IMAGES, features=("classifier", "pixels"),
                              features_model=features_model, out=str(quality_dir), overwrite=True, seed=seed))
    report = json.loads((quality_dir / "quality.json").read_text())
    row = {"variant": name, "seed": seed, "description": description,
           "changes": {key: list(value) if isinstance(value, tuple) else value for key, value in settings.items()},
           "run": str(folder), "quality": str(quality_dir), "train_cpu_min": round(train_seconds / 60, 2),
           "pretrain_cpu_min": 0.0, "train_wall_min": round(train_wall / 60, 2),
           "sample_cpu_s": round(sample_seconds, 1), "load_average_before": load_before, "load_average_after": load_average(),
           **quality_fields(report)}
    return row


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_generator import table

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--splits", help="the cut splits.json (xgan info pneumoniamnist --minority-train 120 --splits FILE)")
    parser.add_argument("--configs", default="ddim_small")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--features-model", default=None, help="a saved classifier for the classifier features (trained once otherwise)")
    parser.add_argument("--table", action="store_true", help="print the Markdown table of the results so far and stop")
    args = parser.parse_args(argv)
    results = args.out / "results.jsonl"
    done = previous_rows(args.out)
    if args.table:
        print(table(done))
        return 0
    names = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONFIGS]
    if unknown or not args.splits:
        parser.error(f"unknown configs {unknown} (known: {', '.join(CONFIGS)})" if unknown else "--splits is required")
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in (int(value) for value in args.seeds.split(",")):
        for name in names:
            if any(row["variant"] == name and row["seed"] == seed for row in done):
                continue
            row = measure(name, seed, args.out, args.splits, args.features_model)
            with open(results, "a") as handle:
                handle.write(json.dumps(row) + "\n")
            done.append(row)
            print(table([row]).splitlines()[-1], flush=True)
    print(table(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
