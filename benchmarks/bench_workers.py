"""Models side by side: `xgan classify --seeds 4` and `xgan run` against one model at a time, ratios in one run.

Two measurements, each of whole commands in fresh processes (wall seconds, CPU seconds of the process and its
children, their ratio = the cores kept busy, the load average before each):

- `classify` (the default): `xgan classify --data pneumoniamnist --size 32 --epochs 5 --patience 10 --seeds 4` with
  `--workers 1` (one model after another in one process, the default) and with `--workers 2` (one per core),
  against a plain Keras script (`plain`, written the way a user would: the same layers built with `keras.layers`,
  `model.fit` on numpy arrays with Keras' own per-epoch validation, `model.predict` on the test images) that
  trains the same four seeds one after another with TensorFlow's default threads. The plain script reads the same
  32 px training, validation and test images from an .npz written beforehand (not timed). Rounds are interleaved,
  so a change of load hits the three alike; the ratios of each round are printed, then their medians.
- `study` (`--study`): `xgan run` (the default study) with `--workers 2` and with `--workers 1`, each to
  the end, with every stage's seconds from study.json and the per-arm balanced accuracy of both (the same figures
  are expected only with the same thread count per model; see README "Models side by side").

`--against REV` adds the code of a git revision (checked out in a worktree of the work folder, run with PYTHONPATH
pointing at it) as one more variant of the same rounds: `xgan REV --workers 2` in the classify measurement, and in
the study `--study-variants 2,against` runs the default study of both, one after the other. The machine's speed drifts
by a fifth within a session, so a before/after ratio is only worth taking in one run.

Run from the repository root:
    python benchmarks/bench_workers.py [--rounds 3] [--work DIR] [--against REV]
    python benchmarks/bench_workers.py --study [--study-variants 2,against,2,against] [--against REV] [--work DIR]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent  # the git checkout this script belongs to
CLASSIFY = ["classify", "--data", "pneumoniamnist", "--size", "32", "--epochs", "5", "--patience", "10", "--seeds", "4"]
SEEDS = (0, 1, 2, 3)

PLAIN_SCRIPT = '''
import sys
import numpy as np
import keras
from keras import layers

data = np.load(sys.argv[1])
x_train, y_train = data["x_train"][..., None].astype("float32"), data["y_train"].astype("float32")
x_val, y_val = data["x_val"][..., None].astype("float32"), data["y_val"].astype("float32")
x_test = data["x_test"][..., None].astype("float32")


def build(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(x_train.shape[1:])
    x = layers.Rescaling(1 / 255)(inputs)
    for filters in (16, 32, 64):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    for units in (128, 64):
        x = layers.Dense(units)(x)
        x = layers.LeakyReLU(0.1)(x)
        x = layers.Dropout(0.5)(x)
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  metrics=["accuracy", keras.metrics.AUC(name="auc")])
    return model


for seed in (0, 1, 2, 3):
    model = build(seed)
    model.fit(x_train, y_train, batch_size=40, epochs=5, validation_data=(x_val, y_val), verbose=0,
              callbacks=[keras.callbacks.EarlyStopping("val_auc", mode="max", patience=10, restore_best_weights=True)])
    probabilities = model.predict(x_test, batch_size=256, verbose=0)
    print(f"seed {seed}: mean test probability {float(probabilities.mean()):.4f}", flush=True)
    keras.backend.clear_session()
'''


def machine() -> str:
    """The CPU model, its flags that matter here, and the cores this process may use."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and name in ("", "unknown CPU", "x86_64"):
                name = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    shown = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    return f"{name}, {len(os.sched_getaffinity(0))} cores, {' '.join(shown) or 'no AVX2'}"


def timed(command: list[str], cwd: Path, env: dict | None = None) -> dict:
    """Run `command` to the end; wall and CPU seconds (its own and its children's), the load average before."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=err)
        # wait4: the child's own CPU time plus that of the children it waited for (the worker processes).
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}:\n{stderr[-3000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall": wall, "cpu": cpu, "cores": cpu / wall, "load": load, "stdout": stdout, "stderr": stderr}

def write_plain_data(path: Path) -> None:
    """The 32 px train/val/test images and labels of xgan's splits, for the plain script."""
    import numpy as np

    from xgan.classifier.classify import ClassifyConfig, prepare_experiment

    experiment = prepare_experiment(ClassifyConfig(data="pneumoniamnist", size=32))
    np.savez(path, x_train=np.asarray(experiment.train.images), y_train=experiment.targets(experiment.train),
             x_val=np.asarray(experiment.validation.images), y_val=experiment.targets(experiment.validation),
             x_test=np.asarray(experiment.test.images))


def worktree(revision: str, work: Path) -> dict:
    """The environment that runs `revision`'s xgan: a git worktree named `xgan` (the repository is the package) on PYTHONPATH."""
    parent = work / "against"
    if not (parent / "xgan").exists():
        added = subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "add", "--detach", str(parent / "xgan"), revision],
                               capture_output=True, text=True)
        if added.returncode != 0:
            raise SystemExit(f"--against {revision}: git could not check it out in {parent / 'xgan'}: {added.stderr.strip()}")
    return {"PYTHONPATH": str(parent)}


def remove_worktree(work: Path) -> None:
    if (work / "against" / "xgan").exists():
        subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(work / "against" / "xgan")], check=False,
                       capture_output=True)


def bench_classify(rounds: int, work: Path, against: str | None = None) -> None:
    data = work / "plain_data.npz"
    write_plain_data(data)
    script = work / "plain_classifier.py"
    script.write_text(PLAIN_SCRIPT)
    xgan = [sys.executable, "-m", "xgan.cli"]
    variants = {"plain": [sys.executable, str(script), str(data)],
                "xgan --workers 1": xgan + CLASSIFY + ["--workers", "1", "--out", str(work / "w1")],
                "xgan --workers 2": xgan + CLASSIFY + ["--workers", "2", "--out", str(work / "w2")]}
    environments = {}
    if against:
        name = f"xgan {against} --workers 2"
        variants[name], environments[name] = xgan + CLASSIFY + ["--workers", "2", "--out", str(work / "against_w2")], worktree(against, work)
    print(f"machine: {machine()}; classify --seeds 4 at 32 px, 5 epochs; {rounds} interleaved round(s)")
    measured = {name: [] for name in variants}
    for number in range(1, rounds + 1):
        for name, command in variants.items():
            result = timed(command, Path.cwd(), environments.get(name))
            if "Traceback" in result["stderr"]:
                raise RuntimeError(f"{name} failed:\n{result['stderr'][-3000:]}")
            measured[name].append(result)
            print(f"  round {number} {name:24s} wall {result['wall']:6.1f} s  CPU {result['cpu']:6.1f} s  "
                  f"cores busy {result['cores']:.2f}  (load average before: {result['load']:.1f})", flush=True)
        plain = measured["plain"][-1]["wall"]
        print(f"  round {number} wall / plain: " + ", ".join(f"{name} {measured[name][-1]['wall'] / plain:.2f}"
                                                        for name in variants if name != "plain"), flush=True)
    print("medians over rounds:")
    for name in variants:
        walls = [r["wall"] for r in measured[name]]
        print(f"  {name:24s} wall {statistics.median(walls):6.1f} s  CPU {statistics.median(r['cpu'] for r in measured[name]):6.1f} s  "
              f"cores busy {statistics.median(r['cores'] for r in measured[name]):.2f}")
    ratios = {name: statistics.median(r["wall"] / p["wall"] for r, p in zip(measured[name], measured["plain"])) for name in variants}
    print("  wall / plain (median of per-round ratios): " + ", ".join(f"{name} {ratios[name]:.2f}" for name in variants if name != "plain"))


STUDY_VARIANTS = {"2": ("--workers 2", ["--workers", "2"]), "1": ("--workers 1", ["--workers", "1"]),
                  "against": ("REV --workers 2", ["--workers", "2"])}


def bench_study(work: Path, variants: list[str], against: str | None = None) -> None:
    if "against" in variants and not against:
        raise SystemExit("--study-variants names `against`: give the revision with --against REV")
    print(f"machine: {machine()}; the default `xgan run`, to the end")
    for number, variant in enumerate(variants, 1):
        name, options = STUDY_VARIANTS[variant]
        name = name.replace("REV", against) if variant == "against" else name
        out = work / f"{number}_{variant}"
        environment = worktree(against, work) if variant == "against" else None
        result = timed([sys.executable, "-m", "xgan.cli", "run", "--out", str(out)] + options, Path.cwd(), environment)
        if "Traceback" in result["stderr"] or not list(out.glob("*/report.json")):
            raise RuntimeError(f"xgan run {name} failed:\n{result['stderr'][-3000:]}")
        (folder,) = [path.parent for path in out.glob("*/study.json")]
        stages = json.loads((folder / "study.json").read_text())["stages"]
        seconds = ", ".join(f"{stage} {details.get('seconds', 0):.0f} s" for stage, details in stages.items())
        print(f"  {name:16s} wall {result['wall']:6.1f} s  CPU {result['cpu']:6.1f} s  cores busy {result['cores']:.2f}  "
              f"(load average before: {result['load']:.1f})\n    stages: {seconds}", flush=True)
        compare = json.loads((Path(stages["classify"]["folder"]) / "report.json").read_text())
        for arm, values in compare["arms"].items():
            summary = values["summary"]
            print(f"    {arm:16s} balanced accuracy {summary['balanced_accuracy']['mean']:.3f} ± {summary['balanced_accuracy']['std']:.3f}, "
                  f"ROC-AUC {summary['roc_auc']['mean']:.3f} ± {summary['roc_auc']['std']:.3f}")

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the classify measurement")
    parser.add_argument("--study", action="store_true", help="time the default `xgan run` instead (both variants to the end)")
    parser.add_argument("--study-variants", default="2,1", help="with --study: which runs, in order (--workers 2, then 1)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the runs (default: a temporary one, deleted)")
    parser.add_argument("--against", default=None, help="a git revision whose code runs as one more variant, in the same rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xgan-bench-workers-") as temporary:
        work = (args.work or Path(temporary)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        try:
            if args.study:
                bench_study(work, args.study_variants.split(","), args.against)
            else:
                bench_classify(args.rounds, work, args.against)
        finally:
            remove_worktree(work)


if __name__ == "__main__":
    main()
