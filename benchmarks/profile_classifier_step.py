"""The classifier's training step with Keras' batch normalization against the fused one (`runtime.batch_norm`): CPU per
step in one process, interleaved, and where each step's time goes by op type (TensorFlow's profiler).

The network is the study's CNN (`build_classifier`, 32 px, filters 16-32-64, dense 128-64, SGD, batch 40, as `xgan run`
trains it), with and without the classic arm's augmentation layers, on one thread as a study worker trains it. Each
variant is built fresh and warmed up (one epoch: tracing, oneDNN's first calls), then timed over `--epochs` epochs of
random images (the step's cost does not depend on the pixels), the variants one after another in each round. The last
round's steps are traced; the op times come from the trace's host plane (as `profile_gan_step.py` reads it) and are
summed by op type: Keras' batch normalization shows as many element-wise ops (Mul, SquaredDifference, Sub, Mean, ...),
the fused one as FusedBatchNormV3 and its gradient.

With `--inference N` it also traces the plain model (Keras' layer) scoring N random images through `run_in_batches`, as
every model of the study scores its validation split, TTA views, test split and shift-suite copies, and prints the
op types of that pass.

Run from the repository root:  python benchmarks/profile_classifier_step.py [--rounds 2] [--epochs 3] [--images 3880]
                                                                           [--inference 8192]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's parent: `import xgan` finds this checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

VARIANTS = [(augment, fused) for augment in (False, True) for fused in (False, True)]


def name_of(augment: bool, fused: bool) -> str:
    return f"{'classic augmentation' if augment else 'no augmentation'}, {'fused' if fused else 'Keras'} batch norm"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per variant and round")
    parser.add_argument("--images", type=int, default=3880, help="training images (the study's baseline arm has 2987)")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow's intra- and inter-op threads (a study worker's: 1)")
    parser.add_argument("--top", type=int, default=12, help="op types shown per variant")
    parser.add_argument("--inference", type=int, default=0, help="also profile the scoring of this many images (0: not)")
    args = parser.parse_args()
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    import xgan  # noqa: F401  (its TensorFlow settings first)
    import keras
    import numpy as np
    import tensorflow as tf

    from bench_workers import machine
    from profile_gan_step import summarize
    from xgan.classifier.config import STUDY_OPTIMIZER, ClassifierConfig
    from xgan.classifier.model import build_classifier, compile_classifier
    from xgan.classifier.train import make_dataset, run_in_batches

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 2, args.images)
    steps = -(-args.images // STUDY_OPTIMIZER["batch_size"])
    print(f"machine: {machine()}; {args.threads} thread(s); {args.images} images of 32 px, {steps} steps per epoch")
    models, dataset = {}, make_dataset(images, labels, STUDY_OPTIMIZER["batch_size"], shuffle_seed=0)
    for augment, fused in VARIANTS:
        config = ClassifierConfig(image_size=32, augment=augment, **STUDY_OPTIMIZER)
        keras.utils.set_random_seed(0)
        model = compile_classifier(build_classifier(config, fused_batch_norm=fused), config, steps_per_epoch=steps)
        model.fit(dataset, epochs=1, shuffle=False, verbose=0)
        models[augment, fused] = model
    seconds = {variant: [] for variant in VARIANTS}
    traces = {}
    for round_ in range(args.rounds):
        for variant in VARIANTS:
            last = round_ == args.rounds - 1
            if last:
                traces[variant] = Path(tempfile.mkdtemp(prefix="profile_classifier_"))
                tf.profiler.experimental.start(str(traces[variant]))
            cpu = time.process_time()
            models[variant].fit(dataset, epochs=args.epochs if not last else 1, shuffle=False, verbose=0)
            if last:
                tf.profiler.experimental.stop()
            else:
                seconds[variant].append((time.process_time() - cpu) / (args.epochs * steps) * 1e3)
    if args.rounds > 1:
        print("\nCPU ms per training step (untraced rounds), and fused / Keras:")
        for augment, fused in VARIANTS:
            values = seconds[augment, fused]
            ratio = "" if not fused else f"   {np.median(values) / np.median(seconds[augment, False]):.2f} of Keras'"
            print(f"  {name_of(augment, fused):<45} {' '.join(f'{v:6.2f}' for v in values)}{ratio}")
    for variant in VARIANTS:
        _, by_type, count, names = summarize(traces[variant])
        total = sum(by_type.values())
        # Keras names a layer's ops, forward and backward (under gradient_tape/), after the layer: batch_norm_1, ...
        batch_norm = sum(value for name, value in names.items() if "/batch_norm_" in name)
        print(f"\n{name_of(*variant)}: ops' own time {total / steps / 1e3:.2f} ms per step, {count / steps:.0f} ops per step; "
              f"the batch normalization layers' {batch_norm / steps / 1e3:.2f} ms ({batch_norm / total:.0%})")
        for op_type, value in by_type.most_common(args.top):
            print(f"  {op_type:<40}{value / steps / 1e3:7.3f} ms  {value / total:6.1%}")
    if args.inference:
        scored = rng.integers(0, 256, (args.inference, 32, 32), dtype=np.uint8)
        model = models[False, False]
        run_in_batches(model, scored)  # tracing
        cpu = time.process_time()
        run_in_batches(model, scored)
        untraced = time.process_time() - cpu
        trace = Path(tempfile.mkdtemp(prefix="profile_classifier_"))
        tf.profiler.experimental.start(str(trace))
        run_in_batches(model, scored)
        tf.profiler.experimental.stop()
        _, by_type, _, _ = summarize(trace)
        total = sum(by_type.values())
        print(f"\nscoring {args.inference} images (run_in_batches, Keras' layer in inference): {untraced:.2f} CPU s untraced, "
              f"ops' own time {total / 1e6:.2f} s")
        for op_type, value in by_type.most_common(args.top):
            print(f"  {op_type:<40}{value / 1e6:7.3f} s  {value / total:6.1%}")


if __name__ == "__main__":
    main()
