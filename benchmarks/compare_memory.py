"""Peak memory of `xgan classify --compare` against the number of arms.

For each arm list given, runs

    xgan -v classify --compare --arms ARMS --data DATA [--synthetic FOLDER] --size SIZE --epochs 1 --seeds SEEDS --out OUT

under a wrapper that reads the command's own peak resident memory and CPU seconds
(`resource.getrusage(RUSAGE_CHILDREN)`: the wrapper runs nothing else). Run it once another command has
filled the decode cache for DATA at SIZE, so every measured run maps the same cached pixels. With --stop-at-training the
command is stopped (SIGKILL) when it logs that its first model starts training: the peak then covers
everything a comparison holds before any training (the training sets built up front), which is where
the number of arms used to show. With --trace FILE, the command's resident memory is also sampled every
--every seconds and written beside the last log line it had printed, to see which stage holds the peak.

    nice python benchmarks/compare_memory.py --data FOLDER --synthetic SAMPLES --out samples/mem \\
        --arms baseline,oversample --arms baseline,classic,oversample,class_weights,gan [--stop-at-training] [--trace FILE]
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

TRAINING_LINE = "training on"  # logged by classifier.train.train_classifier just before fit
WRAPPER = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
           "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
           "print('PEAK_RSS_KB', usage.ru_maxrss, code, usage.ru_utime + usage.ru_stime, file=sys.stderr, flush=True)")


def measure(arms: str, args) -> dict:
    """Peak RSS (GB), CPU seconds and wall seconds of one comparison (to its first training line with --stop-at-training)."""
    command = [sys.executable, "-c", WRAPPER, sys.executable, "-m", "xgan.cli", "-v", "classify", "--compare", "--arms", arms,
               "--data", str(args.data), "--size", str(args.size), "--epochs", "1", "--seeds", str(args.seeds), "--out", str(args.out)]
    for folder in args.synthetic:
        command += ["--synthetic", str(folder)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    result = {"arms": arms, "load": os.getloadavg()[0]}
    last_line, done = [""], threading.Event()
    if args.trace:
        threading.Thread(target=_trace, args=(process.pid, args.trace, args.every, start, last_line, done), daemon=True).start()
    for line in process.stderr:
        if line.strip():
            last_line[0] = line.strip().split("\r")[-1][:160]  # a progress bar's latest state
        if args.stop_at_training and TRAINING_LINE in line and "to_training_s" not in result:
            result["to_training_s"] = time.perf_counter() - start
            for child in _children(process.pid):
                os.kill(child, signal.SIGKILL)
        if line.startswith("PEAK_RSS_KB"):
            _, kilobytes, code, cpu = line.split()
            result.update(peak_rss_gb=int(kilobytes) / 1024**2, exit=int(code), cpu_s=float(cpu))
        elif line.startswith("Error") or "Traceback" in line:
            result["error"] = line.strip()
    process.wait()
    done.set()
    result["wall_s"] = time.perf_counter() - start
    return result


def _trace(wrapper_pid: int, path: Path, every: float, start: float, last_line: list, done: threading.Event) -> None:
    """Append `seconds  RSS GB  last log line` of the xgan command under the wrapper every `every` seconds until done."""
    with open(path, "a") as out:
        while not done.wait(every):
            rss = 0
            for child in _children(wrapper_pid):
                try:
                    status = Path(f"/proc/{child}/status").read_text()
                except OSError:
                    continue
                rss += int(next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), 0))
            out.write(f"{time.perf_counter() - start:8.0f} s  {rss / 1024**2:6.2f} GB  {last_line[0]}\n")
            out.flush()


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the xgan command under the wrapper)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--synthetic", type=Path, action="append", default=[])
    parser.add_argument("--out", type=Path, required=True, help="parent of the run folders (outside the repo)")
    parser.add_argument("--arms", action="append", required=True, help="comma-separated arms; repeat for each list")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=1, help="seeds per arm (compare's own default is 3)")
    parser.add_argument("--stop-at-training", action="store_true")
    parser.add_argument("--trace", type=Path, help="append the command's resident memory and last log line to this file")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between --trace samples")
    args = parser.parse_args(argv)
    for arms in args.arms:
        result = measure(arms, args)
        print(f"{len(arms.split(','))} arms ({arms}): peak RSS {result.get('peak_rss_gb', float('nan')):.2f} GB, "
              f"CPU {result.get('cpu_s', float('nan')):.0f} s, wall {result['wall_s']:.0f} s"
              + (f", first training line at {result['to_training_s']:.0f} s" if "to_training_s" in result else "")
              + f", load {result['load']:.1f}" + (f"  {result['error']}" if "error" in result else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
