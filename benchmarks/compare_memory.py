"""Peak memory of `xgan classify --compare` against the number of arms.

For each arm list given, runs

    xgan -v classify --compare --arms ARMS --data DATA [--synthetic FOLDER] --size SIZE --epochs 1 --seeds SEEDS --out OUT

under a wrapper that reads the peak resident memory of the largest single process it ran and their CPU seconds
(`resource.getrusage(RUSAGE_CHILDREN)`: the wrapper runs nothing else). A comparison past classify's
FRESH_PROCESS_PIXELS trains each model in a worker process of its own, so the whole tree is sampled too, every
--every seconds: the sum of its processes' proportional set sizes (PSS: a page shared by a forked worker and
its parent counted once, split between them), of their anonymous part (Pss_Anon: heap and arrays, what TensorFlow
keeps of each model; without the shared libraries, whose pages PSS also splits with every other process that maps
them, so that it does not depend on what else runs, nor the memory-mapped decode cache, the same for every arm
list) and of their resident sizes (shared pages counted in each); the run's peak is the largest sampled sum (a
spike shorter than --every can be missed). Run it once another command has
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
    if args.workers is not None:
        command += ["--workers", str(args.workers)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    result = {"arms": arms, "load": os.getloadavg()[0], "tree_pss_gb": 0.0, "tree_anon_gb": 0.0, "tree_rss_gb": 0.0, "max_processes": 0}
    last_line, done = [""], threading.Event()
    sampler = threading.Thread(target=_sample, args=(process.pid, args.trace, args.every, start, last_line, done, result), daemon=True)
    sampler.start()
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
    sampler.join()
    result["wall_s"] = time.perf_counter() - start
    return result


def _sample(wrapper_pid: int, path: Path | None, every: float, start: float, last_line: list, done: threading.Event,
            result: dict) -> None:
    """Every `every` seconds until done: the summed PSS and RSS of every process under the wrapper (the xgan command
    and its workers), their maxima kept in `result`; with `path`, `seconds  PSS GB  RSS GB  processes  last log line`
    appended to it."""
    out = open(path, "a") if path else None
    try:
        while not done.wait(every):
            pss = anon = rss = 0
            tree = _descendants(wrapper_pid)
            for pid in tree:
                rollup = _fields(f"/proc/{pid}/smaps_rollup")
                pss, anon = pss + rollup.get("Pss:", 0), anon + rollup.get("Pss_Anon:", 0)
                rss += _fields(f"/proc/{pid}/status").get("VmRSS:", 0)
            result["tree_pss_gb"] = max(result["tree_pss_gb"], pss / 1024**2)
            result["tree_anon_gb"] = max(result["tree_anon_gb"], anon / 1024**2)
            result["tree_rss_gb"] = max(result["tree_rss_gb"], rss / 1024**2)
            result["max_processes"] = max(result["max_processes"], len(tree))
            if out:
                out.write(f"{time.perf_counter() - start:8.0f} s  {pss / 1024**2:6.2f} GiB PSS  {anon / 1024**2:6.2f} GiB anon  "
                          f"{rss / 1024**2:6.2f} GiB RSS  {len(tree)} proc  {last_line[0]}\n")
                out.flush()
    finally:
        if out:
            out.close()


def _fields(path: str) -> dict[str, int]:
    """{"Name:": kB} of a /proc file of kB figures (status, smaps_rollup); empty when the process is gone."""
    try:
        text = Path(path).read_text()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB":
            found[parts[0]] = int(parts[1])
    return found


def _parents() -> dict[int, int]:
    """{pid: parent pid} of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return found


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the xgan command under the wrapper)."""
    return [child for child, parent in _parents().items() if parent == pid]


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`: the xgan command under the wrapper and its worker processes."""
    parents, found, frontier = _parents(), [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--synthetic", type=Path, action="append", default=[])
    parser.add_argument("--out", type=Path, required=True, help="parent of the run folders (outside the repo)")
    parser.add_argument("--arms", action="append", required=True, help="comma-separated arms; repeat for each list")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=1, help="seeds per arm (compare's own default is 3)")
    parser.add_argument("--workers", type=int, help="classify's --workers (default: classify's own, one per core)")
    parser.add_argument("--stop-at-training", action="store_true")
    parser.add_argument("--trace", type=Path, help="append the command's resident memory and last log line to this file")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between samples of the tree's memory")
    args = parser.parse_args(argv)
    for arms in args.arms:
        result = measure(arms, args)
        print(f"{len(arms.split(','))} arms ({arms}): peak RSS of one process {result.get('peak_rss_gb', float('nan')):.2f} GiB, "
              f"whole tree (sampled) PSS {result['tree_pss_gb']:.2f} GiB, anonymous PSS {result['tree_anon_gb']:.2f} GiB, "
              f"RSS {result['tree_rss_gb']:.2f} GiB, "
              f"up to {result['max_processes']} processes, "
              f"CPU {result.get('cpu_s', float('nan')):.0f} s, wall {result['wall_s']:.0f} s"
              + (f", first training line at {result['to_training_s']:.0f} s" if "to_training_s" in result else "")
              + f", load {result['load']:.1f}" + (f"  {result['error']}" if "error" in result else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
