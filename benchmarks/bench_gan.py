"""Speed and memory of xgan's DCGAN against a plain Keras DCGAN, measured in one run, with ratios.

Each model trains in a worker process of its own, because TensorFlow reads its settings (oneDNN
among them) once, at import:

- `xgan`: the default 64 px model exactly as `xgan train` runs it (`gan.fit.build_model`), with the
  settings xgan ships (importing xgan turns TensorFlow's oneDNN kernels on unless the user chose);
- `reference`: the same architecture trained the way a typical user writes it (keras-io's
  `dcgan_overriding_train_step`: a `keras.Model` subclass with a custom `train_step`, run by `fit`
  on a `tf.data` pipeline, default `compile()`, Keras' own layers), with TensorFlow's default
  settings: the environment as given, less any TF_ENABLE_ONEDNN_OPTS;
- `reference+onednn`: the same reference with oneDNN forced on, to show what xgan's own code adds
  beyond that one setting;
- `xgan+mixed` (with `--precision float32,mixed`): xgan's model built as `xgan train --precision mixed`
  builds it (float16 layers, float32 weights, loss-scaled optimizers), timed against `xgan` for the
  ratio mixed / float32 of steps/s and images/s. Meant for a GPU: a CPU emulates float16 and is
  slower with it (see benchmarks/README.md, "Mixed precision on a GPU").

The parent process interleaves timing rounds between the workers, so load from other processes hits
them alike, and reports per-round ratios. Each worker also times sampling 400 images (xgan: also the
whole folder with PNGs, manifest and contact sheet), a 2048x2048 float32 matmul (the practical peak
of its settings; the models' achieved GFLOP/s are given as a fraction of the best of them), and its
peak resident memory.

Run from the repository root:  python benchmarks/bench_gan.py [--rounds 10] [--steps 4] [--precision float32,mixed] [--no-reference]
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

NUM_SAMPLES = 400
BATCH_SIZE = 32  # GanConfig's default, and the reference's
WORKERS = ("xgan", "xgan+mixed", "reference", "reference+onednn")
REFERENCES = ("reference", "reference+onednn")


# ---- Worker side: one model, commands on stdin, one JSON answer per line on stdout ----

def reference_models(size: int, width: int, latent_dim: int):
    """keras-io's generator and discriminator, shaped like xgan's (same layers and parameters)."""
    import keras
    import numpy as np
    from keras import layers

    num = int(np.log2(size // 4))
    discriminator = keras.Sequential([keras.Input((size, size, 1))], name="discriminator")
    channels = width
    for index in range(num):
        discriminator.add(layers.Conv2D(channels, 4, strides=2, padding="same", use_bias=index == 0))
        if index > 0:
            discriminator.add(layers.BatchNormalization())
        discriminator.add(layers.LeakyReLU(negative_slope=0.2))
        channels *= 2
    discriminator.add(layers.Conv2D(1, 4, padding="valid"))
    discriminator.add(layers.Flatten())

    channels = width * 2 ** (num - 1)
    generator = keras.Sequential([keras.Input((latent_dim,)), layers.Dense(4 * 4 * channels, use_bias=False),
                                  layers.Reshape((4, 4, channels)), layers.BatchNormalization(), layers.ReLU()],
                                 name="generator")
    for _ in range(num - 1):
        channels //= 2
        generator.add(layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False))
        generator.add(layers.BatchNormalization())
        generator.add(layers.ReLU())
    generator.add(layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh"))
    return generator, discriminator


def reference_gan_class():
    """keras-io's GAN class (Keras 3 version), with `training=True` so batch norm trains."""
    import keras
    import tensorflow as tf

    class ReferenceGAN(keras.Model):
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

    return ReferenceGAN


def build_xgan(args, images):
    """xgan's model and its operations: train N steps, sample 400 images, write a sample folder."""
    from pathlib import Path

    import numpy as np
    import tensorflow as tf

    from xgan.gan.config import GanConfig
    from xgan.gan.fit import build_model
    from xgan.gan.models import count_training_flops
    from xgan.gan.sample import generate_images, write_synthetic_images

    config = GanConfig(image_size=args.size, width=args.width, precision="mixed" if args.worker == "xgan+mixed" else "float32")
    assert config.batch_size == BATCH_SIZE
    model = build_model(config, images)
    if args.xla:  # the same step compiled by XLA instead of run as a graph of oneDNN/TensorFlow kernels
        model.compile(d_optimizer=model.d_optimizer, g_optimizer=model.g_optimizer, jit_compile=True)
    placeholder = tf.data.Dataset.from_tensors(np.int32(0)).repeat()
    sample_dir = Path(tempfile.mkdtemp(prefix="bench_gan_"))

    def train(steps):
        model.fit(placeholder, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)

    def sample():
        generate_images(model.ema_generator, NUM_SAMPLES, 0, config.latent_dim)

    def sample_folder():  # what `xgan sample` does after loading the generator
        generated = generate_images(model.ema_generator, NUM_SAMPLES, 0, config.latent_dim)
        names = [f"gen_s0_{index:05d}.png" for index in range(NUM_SAMPLES)]
        write_synthetic_images(sample_dir, names, generated, {"label": "covid", "seed": 0})

    flops = count_training_flops(config.image_size, config.latent_dim, config.width, config.batch_size)
    info = {"train_step_flops": flops["train_step"],
            # The reference runs the generator forward twice per step (once per update).
            "reference_step_flops": flops["train_step"] + flops["generator_forward_per_image"] * config.batch_size,
            "params": [model.generator.count_params(), model.discriminator.count_params()], "precision": config.precision}
    return {"train": train, "sample": sample, "sample_folder": sample_folder}, info


def build_reference(args, images):
    """The keras-io reference and its operations: train N steps, sample 400 images with `predict`."""
    import warnings

    import keras
    import numpy as np
    import tensorflow as tf

    latent_dim, batch_size, learning_rate, beta_1 = 100, 32, 2e-4, 0.5  # xgan's defaults, the study's
    keras.utils.set_random_seed(0)
    generator, discriminator = reference_models(args.size, args.width, latent_dim)
    model = reference_gan_class()(discriminator, generator, latent_dim)
    model.compile(keras.optimizers.Adam(learning_rate, beta_1=beta_1), keras.optimizers.Adam(learning_rate, beta_1=beta_1),
                  keras.losses.BinaryCrossentropy(from_logits=True))
    real = tf.data.Dataset.from_tensor_slices(images[..., None].astype("float32") / 127.5 - 1.0)
    real = real.shuffle(1024).batch(batch_size, drop_remainder=True).repeat()
    latents = np.random.default_rng(1).standard_normal((NUM_SAMPLES, latent_dim), dtype=np.float32)

    def train(steps):
        with warnings.catch_warnings():  # keras' note that shuffle is ignored for a tf.data pipeline
            warnings.simplefilter("ignore", UserWarning)
            model.fit(real, epochs=1, steps_per_epoch=steps, verbose=0)

    def sample():
        generator.predict(latents, verbose=0)

    return {"train": train, "sample": sample}, {"params": [generator.count_params(), discriminator.count_params()]}


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    multiply = tf.function(lambda: tf.matmul(a, b))
    multiply().numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        result = multiply()
    result.numpy()
    return 2 * size ** 3 * repeats / (time.perf_counter() - start) / 1e9


def worker(args) -> None:
    """Serve timing commands for one model: `train`, `sample`, `sample_folder`, `matmul`, `memory`."""
    import resource

    if args.worker.startswith("xgan"):
        import xgan  # noqa: F401  (its settings, before TensorFlow is imported)
    import numpy as np
    import keras
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    images = np.random.default_rng(0).integers(0, 256, (32, args.size, args.size), dtype=np.uint8)
    build = build_xgan if args.worker.startswith("xgan") else build_reference
    operations, info = build(args, images)
    start_up = {}
    for name, operation in operations.items():  # first calls: tracing, and the first steps
        start = time.perf_counter()
        operation(args.steps) if name == "train" else operation()
        start_up[name] = time.perf_counter() - start
    info.update(start_up=start_up, onednn=bool(_pywrap_util_port.IsMklEnabled()), tensorflow=tf.__version__,
                keras=keras.__version__, TF_ENABLE_ONEDNN_OPTS=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset)"))
    answer = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints stays out of the answers
    print(json.dumps(info), file=answer, flush=True)
    for line in sys.stdin:
        command = line.split()
        if command[0] == "matmul":
            result = {"gflops": matmul_gflops()}
        elif command[0] == "memory":
            result = {"max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        else:
            wall, cpu = time.perf_counter(), time.process_time()
            operations[command[0]](*map(int, command[1:]))
            result = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
        print(json.dumps(result), file=answer, flush=True)


# ---- Parent side: start the workers, interleave rounds, print ratios ----

class Worker:
    def __init__(self, name: str, args):
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # On a GPU the workers share it: each takes memory as it needs it, not all of it at start-up.
        env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        if name == "reference":
            env.pop("TF_ENABLE_ONEDNN_OPTS", None)  # TensorFlow's own default for this CPU
        elif name == "reference+onednn":
            env["TF_ENABLE_ONEDNN_OPTS"] = "1"
        self.name = name
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", name, "--size", str(args.size), "--width", str(args.width),
             "--steps", str(args.steps)] + (["--xla"] if args.xla else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env, text=True)
        self.info = self._answer()

    def _answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.log.seek(0)
            sys.exit(f"worker {self.name} stopped:\n{self.log.read().decode(errors='replace')[-3000:]}")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def pause(self) -> None:
        """Stop the process: an idle TensorFlow's thread pools still spin and would slow the one being timed."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.resume()
        self.process.stdin.close()
        self.process.wait()


def ask_alone(workers: dict, name: str, command: str) -> dict:
    """Run a command in one worker while the others are stopped."""
    for other, w in workers.items():
        if other != name:
            w.pause()
    try:
        return workers[name].ask(command)
    finally:
        for other, w in workers.items():
            if other != name:
                w.resume()


def describe(values: list[float]) -> str:
    return f"median {statistics.median(values):7.3f}  min {min(values):7.3f}  max {max(values):7.3f}"


def parse_precisions(text: str) -> tuple[str, ...]:
    """`--precision`: "float32" or "float32,mixed" (float32 is the baseline the mixed ratio is taken against)."""
    precisions = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if "float32" not in precisions or not set(precisions) <= {"float32", "mixed"}:
        raise argparse.ArgumentTypeError(f"expected float32 or float32,mixed; got {text!r}")
    return precisions


def print_mixed_ratios(steps_per_second: dict, sampling: dict) -> None:
    """The ratio mixed / float32 of xgan's training steps/s (= images/s at the same batch) and sampling speed."""
    mixed, single = steps_per_second["xgan+mixed"], steps_per_second["xgan"]
    paired = [a / b for a, b in zip(mixed, single)]
    print(f"mixed precision / float32 (xgan, batch {BATCH_SIZE}): training steps/s and images/s per round {describe(paired)}")
    print(f"  images/s median: float32 {statistics.median(single) * BATCH_SIZE:.0f}, mixed {statistics.median(mixed) * BATCH_SIZE:.0f}")
    sample_ratio = [b / a for a, b in zip(sampling["xgan+mixed"], sampling["xgan"])]
    print(f"  sampling {NUM_SAMPLES} images, speed mixed / float32 per round {describe(sample_ratio)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="interleaved timing rounds (more on a busy machine)")
    parser.add_argument("--steps", type=int, default=4, help="training steps per model per round")
    parser.add_argument("--size", type=int, default=64, help="image size (32, 64 or 128)")
    parser.add_argument("--width", type=int, default=64, help="network width")
    parser.add_argument("--xla", action="store_true", help="compile xgan's step with XLA (jit_compile=True)")
    parser.add_argument("--precision", type=parse_precisions, default=("float32",),
                        help="float32, or float32,mixed: also xgan under --precision mixed, and the ratio mixed / float32")
    parser.add_argument("--no-reference", action="store_true", help="time xgan only, without the keras-io reference workers")
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    names = [name for name in WORKERS if (name != "xgan+mixed" or "mixed" in args.precision)
             and not (args.no_reference and name in REFERENCES)]
    workers = {}
    for name in names:  # one at a time, so start-up times are not mixed up
        workers[name] = Worker(name, args)
        workers[name].pause()
    for w in workers.values():
        w.resume()
    params = {name: w.info["params"] for name, w in workers.items()}
    if len({tuple(p) for p in params.values()}) != 1:
        sys.exit(f"the models differ in parameter counts: {params}")

    steps_per_second = {name: [] for name in names}
    cpu_per_step = {name: [] for name in names}
    sampling = {name: [] for name in names}
    sample_folder, matmul = [], {name: [] for name in names}
    for _ in range(args.rounds):
        for name in workers:
            timing = ask_alone(workers, name, f"train {args.steps}")
            steps_per_second[name].append(args.steps / timing["wall"])
            cpu_per_step[name].append(timing["cpu"] / args.steps)
        for name in workers:
            sampling[name].append(ask_alone(workers, name, "sample")["wall"])
        sample_folder.append(ask_alone(workers, "xgan", "sample_folder")["wall"])
    for _ in range(3):
        for name in workers:
            matmul[name].append(ask_alone(workers, name, "matmul")["gflops"])
    memory = {name: w.ask("memory")["max_rss_mb"] for name, w in workers.items()}
    for w in workers.values():
        w.close()

    info = workers["xgan"].info
    peak = max(max(values) for values in matmul.values())
    print(f"DCGAN {args.size} px, width {args.width}, batch 32, latent 100; {args.rounds} rounds x {args.steps} steps; "
          f"xgan {'with XLA' if args.xla else 'as a graph'}; "
          f"TensorFlow {info['tensorflow']}, Keras {info['keras']}, {os.cpu_count()} CPUs")
    for name, w in workers.items():
        print(f"  {name:17s} oneDNN {'on ' if w.info['onednn'] else 'off'} (TF_ENABLE_ONEDNN_OPTS={w.info['TF_ENABLE_ONEDNN_OPTS']}), "
              f"start-up {w.info['start_up']['train']:.1f} s, peak memory {memory[name]:.0f} MB, "
              f"matmul 2048x2048 float32 best {max(matmul[name]):.0f} GFLOP/s")
    print("training steps/s")
    for name in names:
        print(f"  {name:17s} {describe(steps_per_second[name])}   CPU s/step {statistics.median(cpu_per_step[name]):.3f}")
    if "xgan+mixed" in names:
        print_mixed_ratios(steps_per_second, sampling)
    for other in [name for name in names if name in REFERENCES]:
        paired = [a / b for a, b in zip(steps_per_second["xgan"], steps_per_second[other])]
        cpu_ratio = statistics.median(cpu_per_step[other]) / statistics.median(cpu_per_step["xgan"])
        print(f"training speed-up xgan / {other}: per round {describe(paired)}; "
              f"best rounds {max(steps_per_second['xgan']) / max(steps_per_second[other]):.2f}x; "
              f"CPU seconds per step {cpu_ratio:.2f}x")
    print(f"sampling {NUM_SAMPLES} images at {args.size} px, seconds after start-up")
    print(f"  xgan generate_images            {describe(sampling['xgan'])}")
    print(f"  xgan with PNGs, manifest, sheet {describe(sample_folder)}")
    for name in names[1:]:
        print(f"  {name:17s} {'generate_images' if name == 'xgan+mixed' else 'predict        '} {describe(sampling[name])}")
    print(f"achieved GFLOP/s in training, fraction of the best matmul ({peak:.0f} GFLOP/s)")
    for name in names:
        flops = info["train_step_flops"] if name.startswith("xgan") else info["reference_step_flops"]
        for label, rate in (("median", statistics.median(steps_per_second[name])), ("best", max(steps_per_second[name]))):
            print(f"  {name:17s} {label:6s} {flops * rate / 1e9:6.0f} GFLOP/s = {flops * rate / 1e9 / peak:4.0%} "
                  f"({flops / 1e9:.1f} GFLOP/step)")
    print("What differs: xgan = its step (DiffAugment translation/cutout/brightness/contrast on real and fake, "
          "EMA generator update, discriminator accuracies, one generator forward pass shared by both updates, "
          "fused batch norm, in-model uint8 images, oneDNN on); reference = keras-io's step (no augmentation, no EMA, "
          "two generator forward passes, Keras batch norm, real batch and fakes concatenated through the "
          "discriminator, 0.05 label noise, tf.data pipeline). Same layers, parameters, batch and optimizer.")


if __name__ == "__main__":
    main()
