"""report.md's sections on external test sets (see external.py), and the lines `xgan classify` prints about them."""

from .compare import SECONDARY_METRICS
from .formatting import METRIC_LABELS, format_number
from .metrics import PRIMARY_METRIC

ORDER = (PRIMARY_METRIC, *SECONDARY_METRICS)


def _counts(record: dict, positive: str | None, class_names: list[str]) -> str:
    if positive is None:
        return ", ".join(f"{n} {name}" for name, n in record["num_per_class"].items())
    negative = next(name for name in class_names if name != positive)
    return f"{record['num_positive']} {positive}, {record['num_negative']} {negative}"


def _mean_std(summary: dict) -> str:
    return f"{format_number(summary['mean'])} ± {format_number(summary['std'])}"


def format_external(report: dict) -> list[str]:
    """Markdown lines: per external set, each arm's metrics, its drop from the internal test, and (in a comparison) the
    paired intervals against the baseline with the verdict on the primary metric."""
    lines = []
    positive, class_names = report.get("positive_class"), report.get("class_names", [])
    for name, record in (report.get("external") or {}).items():
        excluded = (f"; {record['num_excluded_seen']} image(s) that the models trained or stopped early on left out"
                    if record["num_excluded_seen"] else "")
        lines += ["", f"## External test set `{name}`", "",
                  f"- source: `{record['source']}` (fingerprint {record['dataset_fingerprint']}): {record['num_images']} images "
                  f"({_counts(record, positive, class_names)}){excluded}",
                  "- scored exactly as `xgan evaluate --model <arm>/seed<k> --data` the same set scores each model: at the threshold "
                  "stored with it (chosen on the internal validation split, never on these images)",
                  "- ECE and Brier score: calibration of the probabilities on this set (as on the internal test split; lower is better)",
                  "- drop from internal: the internal test's mean minus this set's (positive: worse here). A large drop in "
                  "sensitivity or specificity beside a small one in ROC-AUC says the threshold does not transfer to this source "
                  "(`xgan calibrate` re-chooses it on a labelled slice of it); a large ROC-AUC drop says the ranking does not either.",
                  ""]
        arms = record.get("arms")
        header = "| arm | " + " | ".join(METRIC_LABELS[m] + (" (primary)" if m == PRIMARY_METRIC else "") for m in ORDER)
        header += f" | drop from internal: {METRIC_LABELS[PRIMARY_METRIC]} | drop: ROC-AUC | ECE | Brier |"
        lines += [header, "| --- |" + " --- |" * (len(ORDER) + 4)]
        by_arm = dict(arms) if arms else {report.get("arm", "model"): record}
        for arm, data in by_arm.items():
            drop, calibration = record["drop_from_internal"][arm], (data.get("calibration") or {}).get("summary") or {}
            cells = [_mean_std(calibration[key]) if key in calibration else "n/a" for key in ("ece", "brier")]
            lines.append(f"| {arm} | " + " | ".join(_mean_std(data["summary"][m]) for m in ORDER)
                         + f" | {format_number(drop[PRIMARY_METRIC], signed=True)} | {format_number(drop['roc_auc'], signed=True)} | "
                         + " | ".join(cells) + " |")
        if not arms and record.get("ensemble"):
            ensemble = record["ensemble"]
            lines.append(f"| seed ensemble ({ensemble['num_models']}) | " + " | ".join(format_number(ensemble["metrics"][m]) for m in ORDER) + " | | | | |")
        comparisons = record.get("comparisons") or {}
        if comparisons:
            baseline = record.get("baseline", "baseline")
            lines += ["", f"Paired against the {baseline} arm on this set (same images, seed k against seed k; the interval, its "
                          "threshold resampling and the Holm adjustment of the verdicts as on the internal test split, within this set's "
                          "comparisons):", "",
                      f"| arm | vs | {METRIC_LABELS[PRIMARY_METRIC]} difference (primary) | 95% interval | verdict | ROC-AUC difference | 95% interval |",
                      "| --- | --- | --- | --- | --- | --- | --- |"]
            for arm, comparison in comparisons.items():
                primary, auc = comparison["differences"][PRIMARY_METRIC], comparison["differences"]["roc_auc"]
                lines.append(f"| {arm} | {baseline} | {format_number(primary['difference'], signed=True)} | "
                             f"{format_number(primary['low'], signed=True)} to {format_number(primary['high'], signed=True)} | "
                             f"**{comparison['primary_verdict']}** | {format_number(auc['difference'], signed=True)} | "
                             f"{format_number(auc['low'], signed=True)} to {format_number(auc['high'], signed=True)} |")
            internal = report.get("comparisons") or {}
            moved = [arm for arm in comparisons if arm in internal and internal[arm]["primary_verdict"] != comparisons[arm]["primary_verdict"]]
            if moved:
                lines += ["", "The verdict here differs from the internal test's for: " + ", ".join(
                    f"{arm} ({internal[arm]['primary_verdict']} internally, {comparisons[arm]['primary_verdict']} here)" for arm in moved) + "."]
    return lines


def external_summary_lines(report: dict) -> list[str]:
    """The lines `xgan classify` prints per external set: each arm's primary metric there, its drop and its verdict."""
    lines = []
    for name, record in (report.get("external") or {}).items():
        lines.append(f"external set {name}: {record['num_images']} images ({_counts(record, report.get('positive_class'), report.get('class_names', []))})"
                     + (f", {record['num_excluded_seen']} seen left out" if record["num_excluded_seen"] else ""))
        arms = record.get("arms") or {report.get("arm", "model"): {"summary": record["summary"]}}
        for arm, data in arms.items():
            comparison = (record.get("comparisons") or {}).get(arm)
            verdict = f"; vs baseline {comparison['primary_verdict']}" if comparison else ""
            lines.append(f"  {arm}: {METRIC_LABELS[PRIMARY_METRIC]} {_mean_std(data['summary'][PRIMARY_METRIC])} "
                         f"(drop {format_number(record['drop_from_internal'][arm][PRIMARY_METRIC], signed=True)}), "
                         f"ROC-AUC {_mean_std(data['summary']['roc_auc'])}{verdict}")
    return lines
