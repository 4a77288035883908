"""The minority-size sweep of `xgan run --minority-train N1,N2,...`: each arm's scores against N.

`sweep_table` is pure: from each size's classifier comparison (report.json) to mean and 95% interval
over seeds per arm and metric. `write_sweep_report` draws the figure and writes sweep.md and sweep.json.
"""

import math
from pathlib import Path

import numpy as np
from scipy import stats

from ..runs import atomic_path, read_json, write_json, write_text

SWEEP_METRICS = ("balanced_accuracy", "roc_auc")
LABELS = {"balanced_accuracy": "balanced accuracy", "roc_auc": "ROC-AUC"}
CONFIDENCE = 0.95


def seed_interval(values) -> dict:
    """Mean over seeds and its 95% t-interval (Student's t, n - 1 degrees of freedom; none for one seed)."""
    values = np.asarray([v for v in values if v is not None and math.isfinite(v)], np.float64)
    if len(values) == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "num_seeds": 0}
    mean = float(values.mean())
    if len(values) == 1:
        return {"mean": mean, "low": math.nan, "high": math.nan, "num_seeds": 1}
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return {"mean": mean, "low": mean - half, "high": mean + half, "num_seeds": int(len(values))}


def sweep_table(comparisons: dict[int, dict]) -> dict:
    """Per arm, per metric, per minority size: the seed mean and its 95% interval.

    Args:
        comparisons: minority training images -> that study's classifier report.json.

    Returns:
        {"sizes": [...], "arms": {arm: {metric: [interval per size]}}, "test_positives": [...]}.
    """
    sizes = sorted(comparisons)
    arms = list(dict.fromkeys(arm for size in sizes for arm in comparisons[size]["arms"]))
    table = {"sizes": sizes, "arms": {}, "test_positives": [comparisons[size]["test_set"].get("num_positive") for size in sizes],
             "primary_metric": comparisons[sizes[0]].get("primary_metric", "balanced_accuracy") if sizes else "balanced_accuracy"}
    for arm in arms:
        table["arms"][arm] = {}
        for metric in SWEEP_METRICS:
            row = []
            for size in sizes:
                runs = comparisons[size]["arms"].get(arm, {}).get("runs", [])
                row.append(seed_interval([run["metrics"].get(metric) for run in runs]))
            table["arms"][arm][metric] = row
    return table


def plot_sweep(path: Path, table: dict) -> Path:
    """One panel per metric: each arm's mean and 95% interval over seeds against the minority's training images."""
    from matplotlib.figure import Figure

    sizes = table["sizes"]
    figure = Figure(figsize=(5.2 * len(SWEEP_METRICS), 4.2))
    axes = figure.subplots(1, len(SWEEP_METRICS), squeeze=False)[0]
    offsets = np.linspace(-0.03, 0.03, max(len(table["arms"]), 1))
    for axis, metric in zip(axes, SWEEP_METRICS):
        for offset, (arm, rows) in zip(offsets, table["arms"].items()):
            means = np.array([r["mean"] for r in rows[metric]])
            low = np.array([r["low"] for r in rows[metric]])
            high = np.array([r["high"] for r in rows[metric]])
            errors = np.nan_to_num(np.stack([means - low, high - means]), nan=0.0)
            axis.errorbar(np.array(sizes) * (1 + offset), means, yerr=errors, marker="o", capsize=3, label=arm)
        axis.set_xscale("log")
        axis.set_xticks(sizes, [str(s) for s in sizes])
        axis.minorticks_off()
        axis.set_xlabel("minority training images (real)")
        axis.set_ylabel(LABELS[metric])
        axis.set_title(f"{LABELS[metric]} on the real test split")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle("mean and 95% interval over seeds, per arm", fontsize=10)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    return path


def write_sweep_report(folder: Path, config, studies: dict[int, Path]) -> Path:
    """Write sweep.png, sweep.md and sweep.json in the sweep folder; returns sweep.md's path."""
    comparisons = {}
    for size, study in studies.items():
        classify_folder = Path(read_json(Path(study) / "study.json")["stages"]["classify"]["folder"])
        comparisons[size] = read_json(classify_folder / "report.json")
    table = sweep_table(comparisons)
    plot_sweep(folder / "sweep.png", table)
    lines = ["# xgan sweep over the minority's training images", "",
             f"- dataset `{config.data}`, ratio {config.ratio}, preset {config.preset}, {config.seeds} seeds per arm; "
             "each size is a whole study (its own GAN, its own cut of the training split; validation and test untouched).",
             "- every score is on the real test split; the interval is the 95% t-interval of the mean over seeds "
             "(it shows seed-to-seed spread, not the test split's sampling noise: see each study's paired intervals).", "",
             "![each arm against the minority's training images](sweep.png)", ""]
    for metric in SWEEP_METRICS:
        lines += [f"## {LABELS[metric]}", "", "| arm | " + " | ".join(f"N = {s}" for s in table["sizes"]) + " |",
                  "| --- |" + " --- |" * len(table["sizes"])]
        for arm, rows in table["arms"].items():
            cells = [f"{r['mean']:.3f} [{r['low']:.3f}, {r['high']:.3f}]" if math.isfinite(r["low"]) else f"{r['mean']:.3f}"
                     for r in rows[metric]]
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Studies: " + ", ".join(f"N = {size}: `{Path(study).relative_to(folder).as_posix()}/report.md`"
                                     for size, study in sorted(studies.items())), ""]
    path = folder / "sweep.md"
    write_text(path, "\n".join(lines))
    write_json(folder / "sweep.json", {**table, "studies": {str(k): str(v) for k, v in studies.items()}})
    return path
