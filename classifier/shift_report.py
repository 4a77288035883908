"""report.md's shift-suite section (see shift.py), and the line `xgan classify --compare` prints about it."""

from .compare import SECONDARY_METRICS
from .formatting import METRIC_LABELS, format_number
from .metrics import PRIMARY_METRIC

ORDER = (PRIMARY_METRIC, *SECONDARY_METRICS)
SHORT = {"gaussian_noise": "Gauss. noise", "speckle_noise": "speckle", "impulse_noise": "impulse", "shot_noise": "shot noise",
         "gaussian_blur": "blur", "jpeg_compression": "JPEG", "pixelate": "pixelate", "brightness_up": "bright +",
         "brightness_down": "bright -", "contrast_up": "contrast +", "contrast_down": "contrast -", "gamma_up": "gamma +",
         "gamma_down": "gamma -", "rotation": "rotation", "translation": "shift", "zoom": "zoom"}


def _mean_std(summary: dict) -> str:
    return f"{format_number(summary['mean'])} ± {format_number(summary['std'])}"


def _per_corruption_table(shift: dict, metric: str) -> list[str]:
    names = list(shift["corruptions"])
    lines = ["| arm | clean | " + " | ".join(SHORT.get(name, name) for name in names) + " | mean | drop from clean |",
             "| --- | --- |" + " --- |" * (len(names) + 2)]
    for arm, data in shift["arms"].items():
        clean = sum(run["mean"][metric] + run["drop"][metric] for run in data["runs"]) / len(data["runs"])
        lines.append(f"| {arm} | {format_number(clean)} | " + " | ".join(format_number(data["per_corruption"][name][metric]["mean"]) for name in names)
                     + f" | **{format_number(data['mean'][metric]['mean'])}** | {format_number(data['drop'][metric]['mean'], signed=True)} |")
    return lines


def format_shift(report: dict) -> list[str]:
    """Markdown lines: the suite, per arm its primary metric and ROC-AUC per corruption, every metric's mean and drop,
    and the paired comparison with the baseline on the primary metric (nothing when the report has no suite)."""
    shift = report.get("shift_suite")
    if not shift:
        return []
    names = list(shift["corruptions"])
    severities = ", ".join(map(str, shift["severities"]))
    label = METRIC_LABELS[PRIMARY_METRIC]
    lines = ["", "## Shift suite: corrupted copies of the test split (a proxy, not an external validation)", "",
             f"**This is a proxy, not an external validation.** Every model is scored, at its stored threshold, on {shift['num_copies']} "
             f"corrupted copies of the same {shift['num_images']} test images: {len(names)} corruptions at severities {severities} of 5 "
             f"(seed {shift['seed']}). The patients, labels and hospital stay those of the test split; only the pixels change, "
             "the way another machine, look-up table, dose or positioning would change them. A model that holds up here may "
             "still fail on films from another hospital (`--external` measures that); one that fails here will likely fail there too. "
             f"Scoring every model on every copy took {shift.get('seconds', 0):.0f} s (`--no-shift-suite` leaves it out).",
             "",
             "Corruptions (parameter per severity; intensity, noise, compression and resolution are MedMNIST-C's PneumoniaMNIST "
             "parameters, arXiv 2406.17536, applied per pixel of the classifier's image; positioning is xgan's own, within a "
             "typical patient tilt and collimation; see measures/corruptions.py):", "",
             "| corruption | stands for | " + " | ".join(f"severity {s}" for s in shift["severities"]) + " |",
             "| --- | --- |" + " --- |" * len(shift["severities"])]
    for name, corruption in shift["corruptions"].items():
        lines.append(f"| {name} | {corruption['stands_for']} | " + " | ".join(f"{corruption['parameters'][str(s)]:g}" for s in shift["severities"]) + " |")
    lines += ["", f"{label} (primary) per corruption, the mean over its severities and over seeds; then the mean over corruptions and "
                  "its drop from the clean test split (positive: worse under corruption):", ""]
    lines += _per_corruption_table(shift, PRIMARY_METRIC)
    lines += ["", "ROC-AUC the same way (it needs no threshold: a small drop here beside a large one above says the threshold, "
                  "not the ranking, is what the corruption breaks):", ""]
    lines += _per_corruption_table(shift, "roc_auc")
    lines += ["", "Every metric, the mean over corruptions (mean ± std over seeds) and its drop from clean; ECE: the mean over copies:", "",
              "| arm | " + " | ".join(METRIC_LABELS[m] + (" (primary)" if m == PRIMARY_METRIC else "") for m in ORDER) + " | ECE |",
              "| --- |" + " --- |" * (len(ORDER) + 1)]
    for arm, data in shift["arms"].items():
        lines.append(f"| {arm} | " + " | ".join(f"{_mean_std(data['mean'][m])} (drop {format_number(data['drop'][m]['mean'], signed=True)})"
                                                for m in ORDER) + f" | {_mean_std(data['ece_mean'])} |")
    comparisons = shift.get("comparisons") or {}
    if comparisons:
        resampled = any(c.get("thresholds_resampled") for c in comparisons.values())
        lines += ["", f"Paired against the {report.get('baseline', 'baseline')} arm, {label} averaged over every copy: a bootstrap that draws "
                      "each test image with all its copies, the seeds as above"
                      + (" and the validation images on which every threshold is re-chosen" if resampled else "")
                      + f"; verdicts Holm-adjusted over these {len(comparisons)} comparison(s):", "",
                  f"| arm | {label} difference under corruption | 95% interval | p | Holm p | verdict (Holm) | verdict on the clean test split |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        clean = report.get("comparisons") or {}
        for arm, comparison in comparisons.items():
            lines.append(f"| {arm} | {format_number(comparison['difference'], signed=True)} | {format_number(comparison['low'], signed=True)} to "
                         f"{format_number(comparison['high'], signed=True)} | {format_number(comparison['p_value'])} | "
                         f"{format_number(comparison['adjusted_p_value'])} | **{comparison['verdict']}** | "
                         f"{clean[arm]['primary_verdict'] if arm in clean else 'n/a'} |")
    return lines


def shift_summary_lines(report: dict) -> list[str]:
    """The line `xgan classify --compare` prints: each arm's primary metric under corruption and its drop from clean."""
    shift = report.get("shift_suite")
    if not shift:
        return []
    parts = [f"{arm} {format_number(data['mean'][PRIMARY_METRIC]['mean'])} (drop {format_number(data['drop'][PRIMARY_METRIC]['mean'], signed=True)}"
             + (f", {shift['comparisons'][arm]['verdict']} vs baseline" if arm in (shift.get("comparisons") or {}) else "") + ")"
             for arm, data in shift["arms"].items()]
    return [f"shift suite ({shift['num_copies']} corrupted copies of the test split; a proxy, not an external validation), "
            f"{METRIC_LABELS[PRIMARY_METRIC]} over corruptions: " + ", ".join(parts)]
