"""Stress: several `xgan classify` runs started together on one folder with one empty decode cache.

For each number of processes P (default 2 and 4) and each round (default 10), an empty cache folder is
made and P copies of

    xgan -v classify --data FOLDER --size 64 --epochs 1 --out RUNS/<round>-<i>

are started at the same moment, all pointing `XGAN_CACHE_DIR` at it. A round passes when every
process exits 0, every run's predictions.csv is byte-for-byte the same, exactly one process logged
that it decoded the folder (the others waited for it and mapped its array), and the cache folder
holds one pixel array and no temporary file afterwards. The folder of PNGs is written once by
`synthetic_folder.py` (under --work, outside the repository).

With --load-only each process runs `load_dataset(FOLDER, 64)` alone (what classify does before
TensorFlow starts: the part that meets the cache) and prints a digest of the pixels it mapped; a
round passes on the same conditions, with the pixel digests in place of the predictions. A round
then takes seconds instead of minutes, so many rounds fit on a loaded machine.

    nice -n 10 python benchmarks/concurrent_cache.py --work $HOME/xgan-concurrent [--num-images 3000] \\
        [--processes 2 4] [--rounds 10] [--load-only]
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from synthetic_folder import write_folder  # noqa: E402

DECODE_LINE = "not in the cache"  # logged by datasets/cache.py when a process decodes files itself
WAIT_LINE = "waiting for another xgan process"
LOAD_ONLY = ("import hashlib, logging, sys; logging.basicConfig(level=logging.INFO); "
             "from xgan.datasets.dataset import load_dataset; images = load_dataset(sys.argv[1], 64).images; "
             "print(hashlib.sha256(images.tobytes()).hexdigest()[:16])")


def one_round(data: Path, work: Path, num_processes: int, round_number: int, load_only: bool = False) -> dict:
    """Start `num_processes` classify runs at once on an empty cache; what each did and whether the round passed."""
    cache = work / f"cache-{num_processes}-{round_number}"
    runs = work / f"runs-{num_processes}-{round_number}"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(runs, ignore_errors=True)
    env = {**os.environ, "XGAN_CACHE_DIR": str(cache), "CUDA_VISIBLE_DEVICES": ""}
    start = time.perf_counter()
    if load_only:
        commands = [[sys.executable, "-c", LOAD_ONLY, str(data)] for _ in range(num_processes)]
    else:
        commands = [[sys.executable, "-m", "xgan.cli", "-v", "classify", "--data", str(data), "--size", "64", "--epochs", "1",
                     "--out", str(runs / str(index))] for index in range(num_processes)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for command in commands]
    outputs = [process.communicate() for process in processes]
    logs = [err for _, err in outputs]
    seconds = time.perf_counter() - start
    codes = [process.returncode for process in processes]
    digests = []
    for index in range(num_processes):
        if load_only:
            digests.append(outputs[index][0].strip() or None)
            continue
        files = sorted((runs / str(index)).glob("*/predictions.csv"))
        digests.append(hashlib.sha256(files[0].read_bytes()).hexdigest()[:16] if len(files) == 1 else None)
    decoded = sum(DECODE_LINE in log for log in logs)
    waited = sum(WAIT_LINE in log for log in logs)
    (folder,) = [path for path in cache.iterdir() if path.is_dir()] or [None]
    arrays = len(list(folder.glob("pixels-64-*.npy"))) if folder else 0
    temporary = len(list(folder.glob(".*.tmp"))) if folder else 0
    passed = (codes == [0] * num_processes and None not in digests and len(set(digests)) == 1 and decoded == 1
              and arrays == 1 and temporary == 0)
    if not passed:
        for code, log in zip(codes, logs):
            if code != 0:
                print(f"  exit {code}: {log.strip().splitlines()[-1] if log.strip() else ''}", flush=True)
    shutil.rmtree(runs, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    return {"passed": passed, "codes": codes, "digests": digests, "decoded": decoded, "waited": waited, "arrays": arrays,
            "temporary": temporary, "seconds": seconds, "load": os.getloadavg()[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the PNGs, caches and runs (outside the repo)")
    parser.add_argument("--num-images", type=int, default=3000)
    parser.add_argument("--processes", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--load-only", action="store_true", help="load_dataset in each process instead of xgan classify")
    args = parser.parse_args(argv)
    data = write_folder(args.work / f"folder-{args.num_images}", args.num_images, size=128)
    what = "load_dataset(FOLDER, 64)" if args.load_only else "xgan classify --size 64 --epochs 1"
    print(f"{args.num_images} PNGs of 128 px in {data}; {os.cpu_count()} CPUs; each process: {what}", flush=True)
    failures = 0
    for num_processes in args.processes:
        results = []
        for round_number in range(args.rounds):
            result = one_round(data, args.work, num_processes, round_number, args.load_only)
            results.append(result)
            print(f"P={num_processes} round {round_number + 1}/{args.rounds}: {'ok' if result['passed'] else 'FAILED'}  "
                  f"exit codes {result['codes']}  digests {sorted(set(map(str, result['digests'])))}  "
                  f"decoded by {result['decoded']}, waited {result['waited']}  arrays {result['arrays']}  "
                  f"tmp {result['temporary']}  {result['seconds']:.0f} s  load {result['load']:.1f}", flush=True)
        passed = sum(result["passed"] for result in results)
        failures += len(results) - passed
        wall = sorted(result["seconds"] for result in results)[len(results) // 2]
        print(f"P={num_processes}: {passed}/{len(results)} rounds passed, median wall {wall:.0f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
