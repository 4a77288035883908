"""Scale benchmark: decode throughput, first vs cached start-up, peak RSS and classifier images/s on
generated folders of 10k, 30k and 100k images, and the GAN's steps/s against the Keras reference, in one run.

For each folder size N (PNGs of 128 px written by `synthetic_folder.py` under --work, outside the repo):

1. `cold`: an empty cache, `xgan -v classify DATA --size 128 --epochs 1` launched and stopped (SIGKILL)
   as soon as it logs that training starts: the seconds from launch to that line include decoding
   every file (decode throughput = N / the cache-fill seconds logged by the same run);
2. `starts`: the same command again --starts times (default 3), each stopped at the training line:
   wall seconds to that line, the command's CPU seconds (user + system) and peak resident memory
   (ru_maxrss; both read by a wrapper that runs only the command) and the load average before it;
3. `cached`: the same command once more, run to the end (skipped with --no-full-run): seconds to the
   training line, peak RSS of the whole command, and the classifier's training images/s (its
   metrics.json: training images / `fit` seconds).

Then `bench_gan.py` runs in a subprocess (a few interleaved rounds; xgan's DCGAN against the keras-io
reference with oneDNN forced on), and its lines are printed here. Every figure printed comes from
this one run.

With `--precision float32,mixed` step 3 runs once per precision (`xgan classify --precision mixed`
the second time) and the table adds the ratio mixed / float32 of the classifier's images/s; the same
option goes to `bench_gan.py`, which then adds xgan's DCGAN under mixed precision and its ratio.
Mixed precision is for GPUs; on a CPU float16 is emulated and slower.

    python benchmarks/bench_scale.py --work $HOME/xgan-scale [--sizes 10000 30000 100000] [--gan-rounds 3]
    python benchmarks/bench_scale.py --work $HOME/xgan-scale --sizes 100000 --keep-cache --starts 5 --no-full-run --gan-rounds 0
    python benchmarks/bench_scale.py --work $HOME/xgan-scale --sizes 10000 --starts 1 --precision float32,mixed
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
from bench_gan import parse_precisions  # noqa: E402
from synthetic_folder import write_folder  # noqa: E402

TRAINING_LINE = "training on"  # logged by classifier.train.train_classifier just before fit
# Runs one command and prints its own peak RSS (KiB on Linux) and CPU seconds last: RUSAGE_CHILDREN covers only it.
WRAPPER = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
           "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
           "print('PEAK_RSS_KB', usage.ru_maxrss, code, usage.ru_utime + usage.ru_stime, file=sys.stderr, flush=True)")


def timed_classify(data: Path, out: Path, cache: Path, stop_at_training: bool, precision: str = "float32") -> dict:
    """Launch `xgan -v classify`; seconds to the training line, CPU seconds, peak RSS, and (run to the end) its metrics."""
    env = {**os.environ, "XGAN_CACHE_DIR": str(cache)}
    command = [sys.executable, "-c", WRAPPER, sys.executable, "-m", "xgan.cli", "-v", "classify", "--data", str(data),
               "--size", "128", "--epochs", "1", "--precision", precision, "--out", str(out)]
    result = {"to_training_s": None, "cpu_s": None, "peak_rss_gb": None, "load_average": os.getloadavg()[0], "decode_log": []}
    start = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
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
            result["cpu_s"] = float(line.split()[3])
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
    parser.add_argument("--starts", type=int, default=3, help="cached starts timed to the training line, each stopped there")
    parser.add_argument("--no-full-run", action="store_true", help="skip the cached run to the end (an epoch of 70k images takes long)")
    parser.add_argument("--precision", type=parse_precisions, default=("float32",),
                        help="float32, or float32,mixed: the cached run and bench_gan.py under both, with the ratio mixed / float32")
    parser.add_argument("--keep-cache", action="store_true",
                        help="keep a cache and splits.json left by an earlier run (no cold start is timed then)")
    args = parser.parse_args()
    rows = []
    for num_images in args.sizes:
        data = write_folder(args.work / f"n{num_images}", num_images, 128)
        cache, runs = args.work / f"cache-n{num_images}", args.work / f"runs-n{num_images}"
        cold = None
        if not (args.keep_cache and cache.is_dir() and (data / "splits.json").is_file()):
            subprocess.run(["rm", "-rf", str(cache), str(runs), str(data / "splits.json")], check=True)
            cold = timed_classify(data, runs / "cold", cache, stop_at_training=True)
        starts = [timed_classify(data, runs / "start", cache, stop_at_training=True) for _ in range(args.starts)]
        cached = None if args.no_full_run else timed_classify(data, runs / "cached", cache, stop_at_training=False)
        cached_mixed = (timed_classify(data, runs / "cached-mixed", cache, stop_at_training=False, precision="mixed")
                        if "mixed" in args.precision and not args.no_full_run else None)
        row = {"images": num_images, "cold": cold, "starts": starts, "cached": cached, "cached_mixed": cached_mixed}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print("| images | cold start to training (s) | cached starts to training: wall s / CPU s (load average) | "
          "peak RSS to training (GB) | peak RSS cached run (GB) | classifier images/s (1 epoch, 128 px) |")
    print("|---:|---:|---|---:|---:|---:|")
    for row in rows:
        cold, cached = row["cold"], row["cached"] or {}
        starts = ", ".join(f"{s['to_training_s']:.1f} / {s['cpu_s']:.1f} ({s['load_average']:.1f})" for s in row["starts"]) or "-"
        start_rss = max((s["peak_rss_gb"] for s in row["starts"]), default=float("nan"))
        rate = cached.get("images_per_s")
        print(f"| {row['images']:,} | {cold['to_training_s']:.1f} |" if cold else f"| {row['images']:,} | - |",
              f"{starts} | {start_rss:.2f} | {cached.get('peak_rss_gb') or float('nan'):.2f} | {f'{rate:.0f}' if rate else '-'} |")
    mixed_rows = [row for row in rows if row["cached_mixed"]]
    if mixed_rows:
        print()
        print("| images | classifier images/s float32 | mixed | mixed / float32 |")
        print("|---:|---:|---:|---:|")
        for row in mixed_rows:
            single, mixed = row["cached"].get("images_per_s"), row["cached_mixed"].get("images_per_s")
            ratio = f"{mixed / single:.2f}" if single and mixed else "-"
            print(f"| {row['images']:,} | {f'{single:.0f}' if single else '-'} | {f'{mixed:.0f}' if mixed else '-'} | {ratio} |")
    if args.gan_rounds:
        print()
        gan = subprocess.run([sys.executable, str(HERE / "bench_gan.py"), "--rounds", str(args.gan_rounds),
                              "--precision", ",".join(args.precision)],
                             capture_output=True, text=True)
        print(gan.stdout)
        if gan.returncode:
            print(gan.stderr[-2000:])


if __name__ == "__main__":
    main()
