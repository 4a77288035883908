"""The tenth session's cuts that keep every output to the bit, each against the form it replaced, in one process.

    python benchmarks/bench_same_bits.py [--rounds 6] [--against a13dc61]

On one thread, as a study worker runs (the bootstrap's threads run numpy on one thread each too), the variants
interleaved round by round; CPU seconds (`time.process_time`), the median of the rounds and of the paired ratios:

- **inference**: the study's CNN (32 px, filters 16-32-64, dense 128-64) scoring 8,192 images through
  `run_in_batches` (max pooling first, `runtime/inference.py`) against the model's own traced call
  (`tf.function(lambda x: model(x, training=False))`, Keras' order), batches of 1,024 both; positive gammas and
  moving statistics away from their initial values, as a trained model has. The outputs must be equal to the bit.
- **training**: the classifier's stand-in (fused batch normalization) trained 2 epochs of 2,987 random images (the
  study's baseline arm, 75 steps an epoch) with one step per call of its traced step against `execution_steps` steps
  per call, with and without the classic augmentation, with class weights; the weights must be equal to the bit.
- **thresholds**: `thresholds_of_draws` against the one of `--against` (its classifier/threshold.py, read with
  `git show`) on the study's shapes (3 models, 829 validation images, a bootstrap chunk of 1,272 draws), scores
  rounded to float32 as a sigmoid's, a few of exactly 1; the thresholds must be equal to the bit.
"""

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_name] = "1"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT.parent))  # the repository's parent: `import xgan` finds this checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))


def report(name: str, times: dict) -> None:
    (reference, base), (label, new) = times.items()
    ratios = [b / a for a, b in zip(base, new)]
    print(f"  {name}: {reference} {statistics.median(base):.3f} s, {label} {statistics.median(new):.3f} s (medians of "
          f"{len(base)} rounds); paired ratios {min(ratios):.2f}-{max(ratios):.2f}, median {statistics.median(ratios):.2f}")


def bench_inference(rounds: int) -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    from xgan.classifier.config import STUDY_OPTIMIZER, ClassifierConfig
    from xgan.classifier.model import build_classifier
    from xgan.classifier.train import run_in_batches, to_model_input

    rng = np.random.default_rng(0)
    model = build_classifier(ClassifierConfig(image_size=32, **STUDY_OPTIMIZER))
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.9, 1.0, channels).astype("float32"))  # as the study's trained models' (0.91-0.98)
            layer.beta.assign(rng.normal(0, 0.3, channels).astype("float32"))
            layer.moving_mean.assign(rng.normal(0, 0.5, channels).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.1, 2, channels).astype("float32"))
    images = rng.integers(0, 256, (8192, 32, 32), dtype=np.uint8)
    keras_order = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec((None, 32, 32, 1), tf.float32)])

    def plain():
        return np.concatenate([keras_order(to_model_input(images[s:s + 1024])).numpy() for s in range(0, len(images), 1024)])

    same = np.array_equal(plain(), run_in_batches(model, images))
    times = {"Keras' order": [], "pooling first": []}
    for _ in range(rounds):
        for name, function in (("Keras' order", plain), ("pooling first", lambda: run_in_batches(model, images))):
            cpu = time.process_time()
            function()
            times[name].append(time.process_time() - cpu)
    report(f"scoring 8,192 images (outputs equal to the bit: {same})", times)


def bench_training(rounds: int) -> None:
    import keras
    import numpy as np

    from xgan.classifier.config import STUDY_OPTIMIZER, ClassifierConfig
    from xgan.classifier.model import build_classifier, compile_classifier, execution_steps
    from xgan.classifier.train import make_dataset

    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (2987, 32, 32), dtype=np.uint8), rng.integers(0, 2, 2987)
    steps = -(-len(images) // STUDY_OPTIMIZER["batch_size"])
    weights = {0: 2.0, 1: 0.5}
    for augment in (False, True):
        config = ClassifierConfig(image_size=32, augment=augment, **STUDY_OPTIMIZER)
        per_call = {1: "one step a call", execution_steps(config): f"{execution_steps(config)} steps a call"}

        def build(steps_per_execution):
            keras.utils.set_random_seed(0)
            return compile_classifier(build_classifier(config, fused_batch_norm=True), config, steps_per_epoch=steps,
                                      steps_per_execution=steps_per_execution)

        def fit(model, epochs):
            model.fit(make_dataset(images, labels, config.batch_size, shuffle_seed=0), epochs=epochs, shuffle=False,
                      class_weight=weights, verbose=0)

        trained = []
        for count in per_call:
            model = build(count)
            fit(model, 2)
            trained.append([v.numpy() for v in model.variables])
        same = all(np.array_equal(a, b) for a, b in zip(*trained))
        models = {count: build(count) for count in per_call}
        for model in models.values():
            fit(model, 1)  # tracing
        times = {label: [] for label in per_call.values()}
        for _ in range(rounds):
            for count, model in models.items():
                cpu = time.process_time()
                fit(model, 2)
                times[per_call[count]].append(time.process_time() - cpu)
        report(f"training 2 epochs, {'classic augmentation' if augment else 'no augmentation'}, class weights "
               f"(weights equal to the bit: {same})", times)


def bench_thresholds(rounds: int, against: str) -> None:
    import numpy as np

    from xgan.classifier import threshold

    source = subprocess.run(["git", "show", f"{against}:classifier/threshold.py"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="bench_same_bits_")) / "threshold_then.py"
    path.write_text(source.replace("from ..", "from xgan.").replace("from .", "from xgan.classifier."))
    spec = importlib.util.spec_from_file_location("threshold_then", path)
    then = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(then)
    rng = np.random.default_rng(0)
    y_true = rng.random(829) < 0.26
    scores = np.where(y_true, rng.beta(5, 2, (3, 829)), rng.beta(2, 5, (3, 829))).astype(np.float32).astype(np.float64)
    scores[:, :3] = 1.0
    draw = rng.integers(0, 829, (1272, 829))
    same = np.array_equal(then.thresholds_of_draws(y_true, scores, draw), threshold.thresholds_of_draws(y_true, scores, draw))
    times = {against: [], "now": []}
    for _ in range(rounds):
        for name, module in ((against, then), ("now", threshold)):
            cpu = time.process_time()
            module.thresholds_of_draws(y_true, scores, draw)
            times[name].append(time.process_time() - cpu)
    report(f"thresholds of 1,272 draws of 829 validation images, 3 models (equal to the bit: {same})", times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--against", default="a13dc61", help="the revision whose thresholds_of_draws is timed beside today's")
    args = parser.parse_args()
    import xgan  # noqa: F401  (its TensorFlow settings first)
    from bench_workers import machine

    print(f"machine: {machine()}; one thread")
    bench_inference(args.rounds)
    bench_training(args.rounds)
    bench_thresholds(args.rounds * 3, args.against)


if __name__ == "__main__":
    main()
