"""Scale benchmark: decode throughput, first vs cached start-up, peak RSS and classifier images/s on
generated folders of 10k, 30k and 100k images, and the GAN's steps/s against the Keras reference, in one run.

For each folder size N (PNGs of 128 px written by `synthetic_folder.py` under --work, outside the repo):

1. `cold`: an empty cache, `xgan -v classify DATA --size 128 --epochs 1` launched and stopped (SIGTERM)
   as soon as it logs that training starts: the seconds from launch to that line include decoding
   every file (decode throughput = N / the cache-fill seconds logged by the same run);
2. `cached`: the same command again, run to the end: seconds from launch to the training line, the
   command's peak resident memory (ru_maxrss of the process, read by a wrapper that runs only it),
   and the classifier's training images/s (its metrics.json: training images / `fit` seconds).

Then `bench_gan.py` runs in a subprocess (a few interleaved rounds; xgan's DCGAN against the keras-io
reference with oneDNN forced on), and its lines are printed here. Every figure printed comes from
this one run.

    python benchmarks/bench_scale.py --work $HOME/xgan-scale [--sizes 10000 30000 100000] [--gan-rounds 3]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from synthetic_folder import write_folder  # noqa: E402

TRAINING_LINE = "training on"  # logged by classifier.train.train_classifier just before fit
# Runs one command and prints its own peak RSS (KiB on Linux) last: RUSAGE_CHILDREN covers only it.
WRAPPER = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
           "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code, file=sys.stderr, flush=True)")


def timed_classify(data: Path, out: Path, cache: Path, stop_at_training: bool) -> dict:
    """Launch `xgan -v classify`; seconds to the training line, peak RSS, and (run to the end) its metrics."""
    env = {**os.environ, "XGAN_CACHE_DIR": str(cache)}
    command = [sys.executable, "-c", WRAPPER, sys.executable, "-m", "xgan.cli", "-v", "classify", "--data", str(data),
               "--size", "128", "--epochs", "1", "--out", str(out)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    result = {"to_training_s": None, "peak_rss_gb": None, "decode_log": []}
    for line in process.stderr:
        if TRAINING_LINE in line and result["to_training_s"] is None:
            result["to_training_s"] = time.perf_counter() - start
            if stop_at_training:
                for child in _children(process.pid):
                    os.kill(child, signal.SIGKILL)
        if "decoding" in line and "not in the cache" in line:
            result["decode_log"].append((time.perf_counter() - start, line.strip()))
        if line.startswith("PEAK_RSS_KB"):
            result["peak_rss_gb"] = int(line.split()[1]) / 2**20
    process.wait()
    result["wall_s"] = time.perf_counter() - start
    runs = sorted(out.glob("*/metrics.json"))
    if not stop_at_training and runs:
        metrics = json.loads(runs[-1].read_text())
        composition = json.loads((runs[-1].parent / "config.json").read_text()).get("training_set", {})
        num_train = sum(n for origins in composition.values() for n in origins.values()) if composition else None
        result["fit_s"] = metrics.get("seconds")
        result["train_images"] = num_train
        result["images_per_s"] = num_train / metrics["seconds"] if num_train and metrics.get("seconds") else None
    return result


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "xgan-scale",
                        help="folder for the generated datasets, caches and runs (not in the repository)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--gan-rounds", type=int, default=3, help="bench_gan.py rounds (0: skip the GAN part)")
    args = parser.parse_args()
    rows = []
    for num_images in args.sizes:
        data = write_folder(args.work / f"n{num_images}", num_images, 128)
        cache = args.work / f"cache-n{num_images}"
        subprocess.run(["rm", "-rf", str(cache), str(args.work / f"runs-n{num_images}"), str(data / "splits.json")], check=True)
        cold = timed_classify(data, args.work / f"runs-n{num_images}" / "cold", cache, stop_at_training=True)
        cached = timed_classify(data, args.work / f"runs-n{num_images}" / "cached", cache, stop_at_training=False)
        row = {"images": num_images, "cold": cold, "cached": cached}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print("| images | cold start to training (s) | cached start to training (s) | speed-up | peak RSS cached run (GB) | classifier images/s (1 epoch, 128 px) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        cold, cached = row["cold"], row["cached"]
        speedup = cold["to_training_s"] / cached["to_training_s"] if cold["to_training_s"] and cached["to_training_s"] else float("nan")
        rate = cached.get("images_per_s")
        print(f"| {row['images']:,} | {cold['to_training_s']:.1f} | {cached['to_training_s']:.1f} | {speedup:.1f}x | "
              f"{cached['peak_rss_gb']:.2f} | {rate:.0f} |" if rate else f"| {row['images']:,} | ... |")
    if args.gan_rounds:
        print()
        gan = subprocess.run([sys.executable, str(HERE / "bench_gan.py"), "--rounds", str(args.gan_rounds)],
                             capture_output=True, text=True)
        print(gan.stdout)
        if gan.returncode:
            print(gan.stderr[-2000:])


if __name__ == "__main__":
    main()
