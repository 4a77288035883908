"""Where one GAN training step's time goes: TensorFlow's profiler over a few steps, each op's time summed by part of the
step (generator / discriminator, forward / backward, the optimizers, the rest: DiffAugment's one-hot and matmul
translations, random draws, losses, metrics) and by op type, beside the same
process's float32 matmul throughput.

The model is the study's (`gan.fit.build_model`, 32 px, width 32, batch 32, as `xgan run` trains it), warmed up
first (tracing, oneDNN's first calls), then traced for `--steps` steps with `tf.profiler.experimental`. The trace's
host plane holds one event per executed op, named `name:type`; an op's part comes from its name scope (Keras puts a
layer's ops under the model's and the layer's name, gradients under `gradient_tape/`, the optimizers' under their own
names). Times are the ops' own durations summed (with more than one thread, ops that overlap count each), so the
parts add up to the ops' total, which is set against the steps' wall and CPU time.

Run from the repository root:  python benchmarks/profile_gan_step.py [--steps 20] [--threads 1]
"""

import argparse
import collections
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's parent: `import xgan` finds this checkout


def part_of(name: str) -> str:
    """The part of the step an op of this name belongs to."""
    lower = name.lower()
    backward = lower.startswith("gradient_tape/") or "/gradient_tape/" in lower
    if re.search(r"(^|/)(adam|sgd|rmsprop)(_\d+)?/", lower) or "apply" in lower and "gradient" in lower:
        return "optimizers"
    for network in ("generator", "discriminator"):
        if re.search(rf"(^|/){network}(_\d+)?/", lower):
            return f"{network} {'backward' if backward else 'forward'}"
    return "other: DiffAugment, random draws, losses, metrics"


def summarize(logdir: Path):
    """{part: microseconds}, {op type: microseconds}, number of op events, from the trace's host plane."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    (path,) = list(logdir.rglob("*.xplane.pb"))
    space = xplane_pb2.XSpace()
    space.ParseFromString(path.read_bytes())
    by_part, by_type, count, names = collections.Counter(), collections.Counter(), 0, collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        metadata = plane.event_metadata
        for line in plane.lines:
            for event in line.events:
                label = metadata[event.metadata_id].name
                if ":" not in label or "::" in label:  # `Class::Method` events enclose ops (the step, the executor): not ops
                    continue
                op_name, op_type = label.rsplit(":", 1)
                if not op_type or not (op_type[0].isupper() or op_type.startswith("_")):  # `_Mkl...`: oneDNN's kernels
                    continue
                microseconds = event.duration_ps / 1e6
                by_part[part_of(op_name)] += microseconds
                by_type[op_type] += microseconds
                names[op_name] += microseconds
                count += 1
    return by_part, by_type, count, names


def matmul_gflops(size: int = 2048, repeats: int = 10) -> tuple[float, float]:
    """A float32 size x size matmul's GFLOP/s in this process: (per wall second, per CPU second of the process)."""
    import tensorflow as tf

    a, b = tf.random.normal((size, size)), tf.random.normal((size, size))
    multiply = tf.function(lambda: tf.matmul(a, b))
    multiply().numpy()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        result = multiply()
    result.numpy()
    flops = 2 * size ** 3 * repeats / 1e9
    return flops / (time.perf_counter() - wall), flops / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow's intra- and inter-op threads (a study worker's: 1)")
    parser.add_argument("--show-names", type=int, default=0, help="also print the N op names that took longest")
    parser.add_argument("--keep-trace", type=Path, default=None, help="write the trace under this folder (else a temporary one)")
    args = parser.parse_args()
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    import xgan  # noqa: F401  (its TensorFlow settings first)
    import numpy as np
    import tensorflow as tf

    from xgan.gan.config import GanConfig
    from xgan.gan.fit import build_model
    from xgan.gan.models import count_training_flops

    config = GanConfig(image_size=32, width=32)
    images = np.random.default_rng(0).integers(0, 256, (120, 32, 32), dtype=np.uint8)
    model = build_model(config, images)
    placeholder = tf.data.Dataset.from_tensors(np.int32(0)).repeat()

    def train(steps):
        model.fit(placeholder, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)

    train(5)  # tracing and first calls
    wall, cpu = time.perf_counter(), time.process_time()
    train(args.steps)
    untraced = (time.perf_counter() - wall) / args.steps, (time.process_time() - cpu) / args.steps
    logdir = args.keep_trace or Path(tempfile.mkdtemp(prefix="profile_gan_"))
    tf.profiler.experimental.start(str(logdir))
    wall, cpu = time.perf_counter(), time.process_time()
    train(args.steps)
    traced = (time.perf_counter() - wall) / args.steps, (time.process_time() - cpu) / args.steps
    tf.profiler.experimental.stop()
    matmul = [matmul_gflops() for _ in range(3)]
    wall_gflops, cpu_gflops = max(m[0] for m in matmul), max(m[1] for m in matmul)
    flops = count_training_flops(config.image_size, config.latent_dim, config.width, config.batch_size)["train_step"]
    by_part, by_type, count, names = summarize(logdir)
    total = sum(by_part.values())
    print(f"{args.steps} steps, {args.threads} thread(s); per step: {untraced[0] * 1e3:.1f} ms wall, {untraced[1] * 1e3:.1f} ms CPU "
          f"(traced: {traced[0] * 1e3:.1f} ms wall, {traced[1] * 1e3:.1f} ms CPU); ops' own time {total / args.steps / 1e3:.1f} ms "
          f"in {count / args.steps:.0f} ops per step")
    # Per CPU second as well: on a shared machine wall time counts the time other processes held the core.
    print(f"{flops / 1e9:.2f} GFLOP per step: {flops / untraced[0] / 1e9:.1f} GFLOP/s per wall second against a same-run 2048x2048 "
          f"float32 matmul's {wall_gflops:.1f} ({flops / untraced[0] / 1e9 / wall_gflops:.0%}); {flops / untraced[1] / 1e9:.1f} per CPU "
          f"second against the matmul's {cpu_gflops:.1f} ({flops / untraced[1] / 1e9 / cpu_gflops:.0%})")
    print("\npart of the step                      ms/step  share")
    for part, value in by_part.most_common():
        print(f"{part:<38}{value / args.steps / 1e3:7.2f}  {value / total:5.1%}")
    print("\nop type                               ms/step  share")
    for op_type, value in by_type.most_common(18):
        print(f"{op_type:<38}{value / args.steps / 1e3:7.2f}  {value / total:5.1%}")
    for name, value in names.most_common(args.show_names):
        print(f"  {name}: {value / args.steps / 1e3:.2f} ms")


if __name__ == "__main__":
    main()
