"""Scoring a model's images: xgan's traced inference against plain Keras' `model.predict` and the eager call it replaced.

    python benchmarks/bench_inference.py [--models 4] [--images 34000] [--threads 1] [--rounds 2]

Each round is one fresh process per variant. It builds `--models` of the study's CNNs (32 px, seeds 0, 1, ...) one
after another, as a worker meets them, and scores `--images` random 32 px images with each (about what one study model
scores: validation every epoch, nine TTA views, the test split, the shift suite's copies), batches of 1,024:

- `predict`: plain Keras, `model.predict(x, batch_size=1024, verbose=0)` on the float32 array, the way a user would;
- `eager`: `model(batch, training=False)` batch by batch, what `classifier.train.run_in_batches` did before;
- `xgan`: `run_in_batches` now (one traced function per model and input shape).

Printed: CPU seconds per model (tracing included: every model is new), the ratios to `predict` and `eager`, and the
largest difference of each variant's outputs from the eager call's (grappler fuses the output layer's matmul, bias
and sigmoid in a traced call, which moves some sigmoid outputs by one float32 unit).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
import numpy as np
import keras
from xgan.classifier.config import ClassifierConfig
from xgan.classifier.model import build_classifier
from xgan.classifier.train import run_in_batches, to_model_input

variant, models, count, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
images = np.random.default_rng(0).integers(0, 256, (count, 32, 32), dtype=np.uint8)
seconds, outputs = [], []
for seed in range(models):
    keras.utils.set_random_seed(seed)  # the same weights in every variant's process
    model = build_classifier(ClassifierConfig(image_size=32, seed=seed))
    start = time.process_time()
    if variant == "predict":
        scores = model.predict(to_model_input(images), batch_size=1024, verbose=0)
    elif variant == "eager":
        scores = np.concatenate([model(to_model_input(images[i:i + 1024]), training=False).numpy() for i in range(0, count, 1024)])
    else:
        scores = run_in_batches(model, images)
    seconds.append(time.process_time() - start)
    outputs.append(scores.reshape(-1))
np.save(out, np.stack(outputs))
print(json.dumps({"variant": variant, "seconds": seconds}))
"""

VARIANTS = ("predict", "eager", "xgan")


def machine() -> str:
    flags = set()
    try:
        text = Path("/proc/cpuinfo").read_text()
        name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), platform.processor())
        flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    except OSError:
        name = platform.processor() or "unknown CPU"
    shown = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return f"{name}, {os.cpu_count()} cores, {' '.join(shown)}"


def measure(variant: str, models: int, images: int, threads: int, out: Path) -> list[float]:
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                       **{name: str(threads) for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")})
    done = subprocess.run([sys.executable, "-c", CHILD, variant, str(models), str(images), str(out)], capture_output=True, text=True,
                          env=environment)
    if done.returncode:
        raise SystemExit(f"{variant} failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=4, help="fresh models per process")
    parser.add_argument("--images", type=int, default=34000, help="images each model scores")
    parser.add_argument("--threads", type=int, default=1, help="intra- and inter-op threads (1: a worker's setting)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    args = parser.parse_args()
    print(f"machine: {machine()}; {args.models} models x {args.images} images at 32 px, {args.threads} thread(s), "
          f"{args.rounds} round(s)")
    per_model = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(1, args.rounds + 1):
            for variant in VARIANTS:
                seconds = measure(variant, args.models, args.images, args.threads, Path(folder) / f"{variant}.npy")
                per_model[variant].append(statistics.mean(seconds))
                print(f"  round {round_} {variant:8s} CPU s per model {statistics.mean(seconds):6.2f} "
                      f"(models: {', '.join(f'{s:.2f}' for s in seconds)})", flush=True)
        eager = np.load(Path(folder) / "eager.npy")
        differences = {v: float(np.abs(np.load(Path(folder) / f"{v}.npy") - eager).max()) for v in VARIANTS}
    median = {v: statistics.median(per_model[v]) for v in VARIANTS}
    print("medians over rounds, CPU s per model:", ", ".join(f"{v} {median[v]:.2f}" for v in VARIANTS))
    print(f"xgan / predict {median['xgan'] / median['predict']:.2f}, xgan / eager {median['xgan'] / median['eager']:.2f}")
    print("largest difference from the eager outputs (last round):", ", ".join(f"{v} {d:.1e}" for v, d in differences.items()))


if __name__ == "__main__":
    main()
