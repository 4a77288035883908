"""tf.data's autotuning and an idle core: one classifier's `fit` with autotuning on (TensorFlow's default) and off (xgan's).

    python benchmarks/bench_autotune.py [--epochs 8] [--rounds 2]

Each measurement is a fresh process that trains the study's CNN (32 px, batch 40, one intra- and one inter-op thread, as a
worker of `--workers 2` runs it) on 3,000 bundled PneumoniaMNIST training images with 500 validation images, through
`classifier.train.train_classifier`; the "on" variant swaps in tf.data's default options. Three settings: the process
alone, the process pinned to one core (`taskset`), and two processes side by side (what two workers do). Printed: wall
and CPU seconds of `fit` and their ratio (how busy the process kept its core), and the last epoch's loss (equal in both
variants when autotuning changes nothing but speed).
"""

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, os, sys, time
import numpy as np
import tensorflow as tf
from xgan.classifier import train
from xgan.classifier.config import ClassifierConfig
from xgan.datasets.dataset import load_dataset

variant, epochs = sys.argv[1], int(sys.argv[2])
if variant == "on":
    import xgan.runtime.distribute as distribute

    def tensorflow_default(policy):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = getattr(tf.data.experimental.AutoShardPolicy, policy)
        return options
    distribute.input_options = tensorflow_default
dataset = load_dataset("pneumoniamnist", size=32)
images = np.asarray(dataset.images[:3500])
labels = (np.asarray(dataset.labels[:3500]) == dataset.class_names.index("normal")).astype(int)
config = ClassifierConfig(image_size=32, epochs=epochs, patience=100, batch_size=40, seed=0)
wall, cpu = time.perf_counter(), time.process_time()
result = train.train_classifier(config, images[:3000], labels[:3000], (images[3000:], labels[3000:]))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"variant": variant, "wall": wall, "cpu": cpu, "loss": result.history[-1]["loss"]}))
"""


def run(variant: str, epochs: int, pin: str | None) -> subprocess.Popen:
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                       **{name: "1" for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")})
    command = [sys.executable, "-c", CHILD, variant, str(epochs)]
    if pin is not None:
        command = ["taskset", "-c", pin, *command]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment)


def result(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"a measurement failed (exit {process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores")
    print(f"{'setting':<22} {'autotuning':<10} {'wall s':>7} {'CPU s':>7} {'busy':>5} {'loss':>10}")
    for round_number in range(args.rounds):
        for setting in ("alone", "pinned to one core", "two side by side"):
            for variant in ("on", "off"):
                start = time.perf_counter()
                if setting == "two side by side":
                    measured = [result(p) for p in [run(variant, args.epochs, None), run(variant, args.epochs, None)]]
                else:
                    measured = [result(run(variant, args.epochs, "0" if setting.startswith("pinned") else None))]
                for m in measured:
                    print(f"{setting:<22} {variant:<10} {m['wall']:7.1f} {m['cpu']:7.1f} {m['cpu'] / m['wall']:5.2f} {m['loss']:10.6f}"
                          f"   (round {round_number + 1}, {time.perf_counter() - start:.0f} s with start-up)")


if __name__ == "__main__":
    main()
