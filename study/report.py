"""The study's report.md: data, GAN previews, quality, the comparison, and a plain verdict."""

import os
import platform
import re
from pathlib import Path

from ..classifier.arms import uses_synthetic
from ..runs import read_json, write_json, write_text

HEADLINE = ("balanced_accuracy", "roc_auc", "sensitivity", "specificity")
LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "sensitivity": "sensitivity",
          "specificity": "specificity", "precision": "precision", "f1": "F1", "roc_auc": "ROC-AUC"}


def relative(path: str | Path, folder: Path) -> str:
    """A link target relative to the report's folder, with forward slashes."""
    return Path(os.path.relpath(Path(path).resolve(), folder.resolve())).as_posix()


def primary_metric(report: dict) -> str:
    """The comparison's declared primary metric (balanced accuracy unless the report names another)."""
    return report.get("primary_metric", "balanced_accuracy")


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def verdict_lines(report: dict) -> list[str]:
    """Plain-language verdict on every arm, from the comparison's report.json.

    The verdict rests on one declared primary metric; the other headline metrics are reported as
    secondary. "Within noise" whenever the paired interval includes zero. The GAN arm is also held
    against random oversampling, since beating "nothing" is not enough.
    """
    arms, comparisons = report["arms"], report["comparisons"]
    primary = primary_metric(report)
    secondary = [m for m in HEADLINE if m != primary]
    lines = [f"Primary metric: **{LABELS.get(primary, primary)}** on the real test split; "
             + ", ".join(LABELS[m] for m in secondary) + " are secondary (reported, not used for the verdict).", ""]
    if comparisons:
        lines += [f"| arm | {LABELS.get(primary, primary)} (mean ± std over seeds) | vs baseline [95% paired interval] | verdict (Holm-adjusted) "
                  "| secondary: ROC-AUC vs baseline |", "| --- | --- | --- | --- | --- |"]
        baseline = report.get("baseline", "baseline")
        if baseline in arms:
            summary = arms[baseline]["summary"][primary]
            lines.append(f"| {baseline} | {summary['mean']:.3f} ± {summary['std']:.3f} | | | |")
        for arm, comparison in comparisons.items():
            summary = arms[arm]["summary"][primary]
            interval = comparison["differences"][primary]
            auc = comparison["differences"].get("roc_auc")
            auc_text = (f"{_signed(auc['difference'])} [{_signed(auc['low'])}, {_signed(auc['high'])}] {comparison['verdicts']['roc_auc']}"
                        if auc else "")
            lines.append(f"| {arm} | {summary['mean']:.3f} ± {summary['std']:.3f} | {_signed(interval['difference'])} "
                         f"[{_signed(interval['low'])}, {_signed(interval['high'])}] | {comparison['verdicts'][primary]} | {auc_text} |")
        lines.append("")
    if "gan" not in comparisons:
        return lines + ["The GAN arm did not run, so there is no verdict on GAN images."]
    gan = comparisons["gan"]
    label = LABELS.get(primary, primary)
    verdict = gan["verdicts"][primary]
    if verdict == "better":
        lines.append(f"**GAN images helped** on {label}, the primary metric (the paired difference is beyond noise after Holm's adjustment).")
    elif verdict == "worse":
        lines.append(f"**GAN images hurt** {label}, the primary metric (the paired difference is beyond noise after Holm's adjustment).")
    else:
        lines.append(f"**Within noise.** On this test set and these seeds, adding GAN images made no difference in {label}, the "
                     "primary metric, that can be told apart from chance ("
                     + ("the 95% paired interval excludes zero, but not after Holm's adjustment for the report's "
                        f"{gan['holm']['family_size']} comparisons" if gan.get("primary_verdict_unadjusted") in ("better", "worse")
                        else "the 95% paired interval includes zero") + ").")
    moved = [f"{LABELS[m]} {gan['verdicts'][m]}" for m in secondary if gan["verdicts"].get(m) in ("better", "worse")]
    if moved:
        lines.append("Secondary metrics whose interval excludes zero (not the verdict): " + ", ".join(moved) + ".")
    if "oversample" in arms:
        versus = report.get("gan_vs_oversample")
        if versus:
            interval = versus["differences"][primary]
            lines.append(f"GAN arm against plain random oversampling of the real minority images, {label}: "
                         f"{_signed(interval['difference'])} [{_signed(interval['low'])}, {_signed(interval['high'])}], "
                         f"{versus['verdicts'][primary]}. A GAN is only worth its cost where it beats oversampling, not just the baseline.")
        else:
            g, o = arms["gan"]["summary"][primary]["mean"], arms["oversample"]["summary"][primary]["mean"]
            lines.append(f"GAN arm against plain random oversampling of the real minority images (means over seeds): {label} "
                         f"{g:.3f} vs {o:.3f}. A GAN is only worth its cost where it beats oversampling, not just the baseline.")
    return lines + best_gan_lines(report)


def best_gan_lines(report: dict) -> list[str]:
    """The comparison's answer to "do synthetic images earn their place": the best GAN arm against the best other arm,
    each chosen on the validation split, on the primary metric and on ROC-AUC (nothing without several GAN arms)."""
    best = report.get("best_gan_vs_best_other")
    if not best or sum(uses_synthetic(arm) for arm in report["arms"]) < 2:
        return []
    primary = primary_metric(report)
    shown = [metric for metric in (primary, "roc_auc") if metric in best["differences"]]
    parts = [f"{LABELS.get(m, m)} {_signed(best['differences'][m]['difference'])} [{_signed(best['differences'][m]['low'])}, "
             f"{_signed(best['differences'][m]['high'])}] ({best['verdicts'][m]})" for m in shown]
    reached = all(best["differences"][m]["difference"] >= 0 for m in shown)
    shown_beyond_noise = all(best["verdicts"][m] == "better" for m in shown)
    outcome = ("reached, and better beyond noise on both" if shown_beyond_noise else
               "reached on the means, not shown beyond noise" if reached else "not reached")
    return ["", f"**Best GAN arm against the best other arm**, each chosen by {best['chosen_by']} (never on the test split): "
            f"{best['arm']} against {best['reference']}: " + "; ".join(parts) + ".",
            f"Target (the best GAN arm at least the best other arm on {LABELS.get(primary, primary)} and ROC-AUC): {outcome}."]


def _median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v == v)  # NaN-free
    return float(values[len(values) // 2]) if values else None


def interval_half_width(report: dict) -> float | None:
    """Half the width of the 95% paired bootstrap intervals of the primary metric, the median over the arms against
    the baseline (None without any): differences much smaller than this cannot be told from chance."""
    primary = primary_metric(report)
    return _median([(c["differences"][primary]["high"] - c["differences"][primary]["low"]) / 2
                    for c in report.get("comparisons", {}).values() if primary in c.get("differences", {})])


def minimum_detectable_effect(report: dict, holm: bool = False) -> float | None:
    """The true difference in the primary metric detected with 80% power, the median over the arms (None when the
    comparison did not state it); `holm`: at Holm's strictest level over the report's comparisons."""
    key = "minimum_detectable_effect_holm" if holm else "minimum_detectable_effect"
    return _median([c["power"][key] for c in report.get("comparisons", {}).values() if key in c.get("power", {})])


def power_lines(report: dict) -> list[str]:
    """The study's power, stated: test images per class, the interval half-width and the minimum detectable effect."""
    test, positive = report["test_set"], report["positive_class"]
    label = LABELS.get(primary_metric(report), primary_metric(report))
    if positive is None:  # three or more classes: the smallest test class sets the grain of its sensitivity
        smallest = min(test["num_per_class"], key=test["num_per_class"].get)
        count = test["num_per_class"][smallest]
        lines = ["## Power", "", f"- The test split holds {test['num_images']} real images: "
                 + ", ".join(f"{n} {name}" for name, n in test["num_per_class"].items())
                 + (f"; one {smallest} image moves its sensitivity by {1 / count:.3f}." if count else ".")]
    else:
        lines = ["## Power", "", f"- The test split holds {test['num_images']} real images, {test['num_positive']} of them {positive}"
                 + (f": one {positive} image moves sensitivity by {1 / test['num_positive']:.3f}." if test["num_positive"] else ".")]
    half_width = interval_half_width(report)
    if half_width is not None:
        lines.append(f"- Interval half-width: the 95% paired intervals of {label} reach about ±{half_width:.3f} around the "
                     "difference (median over the arms). A true difference of that size would still be called within noise "
                     "about half the time.")
    detectable, detectable_holm = minimum_detectable_effect(report), minimum_detectable_effect(report, holm=True)
    if detectable is not None:
        lines.append(f"- Minimum detectable effect: a true difference of about {detectable:.3f} in {label} is detected with 80% "
                     f"power at 0.05 (normal approximation: 1.43 half-widths), and about {detectable_holm:.3f} for the "
                     "comparison Holm's adjustment holds to the strictest level. \"Within noise\" here means \"smaller than that, "
                     "or not there at all\".")
    return lines + [""]


def write_study_report(folder: Path, config, stages: dict) -> Path:
    """Write `report.md` and `report.json` in the study folder; returns the report.md path."""
    folder = Path(folder)
    lines = ["# xgan study report", ""]
    total = sum(stage.get("seconds", 0) for stage in stages.values())
    data = stages["data"]
    cut = data.get("cut")
    lines += [f"- dataset: `{config.data}`, preset **{config.preset}** "
              f"(GAN {config.gan_epochs} epochs, classifier up to {config.classifier_epochs} epochs, {config.seeds} seeds, "
              f"ratio {config.ratio}, {data.get('size', config.size)} px"
              + "".join(f", {name} {value}" for name, value, default in (("strategy", getattr(config, "strategy", "default"), "default"),
                                                                        ("precision", getattr(config, "precision", "float32"), "float32"),
                                                                        ("backbone", getattr(config, "backbone", "cnn"), "cnn"),
                                                                        ("GAN", getattr(config, "gan_variant", "dcgan"), "dcgan"))
                        if value != default) + ")",
              *([f"- minority cut: {cut['kept']} of the {cut['available']} training images of class {cut['class']} kept (seed "
                 f"{cut['seed']}); validation and test untouched, with their natural class mix"] if cut else []),
              "- balancing: " + ", ".join(f"{name} {data['train_counts'][name]} -> {data['target'][name]}"
                                          for name in data.get("gan_classes") or [data["class_name"]])
              + f" training images; {_sampled_words(stages)}",
              f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores; "
              f"stages took " + ", ".join(f"{name} {stage.get('seconds', 0):.0f} s" for name, stage in stages.items() if name != "report")
              + f" ({total / 60:.1f} min in all)",
              "- every evaluation image is a real image of the test split; no synthetic image and no image the GAN read is ever "
              "evaluated (checked in code).", ""]
    lines += _held_out_lines(stages)
    lines += ["## Data", "", "```", (folder / "data_summary.txt").read_text().rstrip(), "```", ""]
    lines += _gan_section(folder, stages)
    if "quality" in stages:
        quality_folders = stages["quality"].get("folders") or {None: stages["quality"]["folder"]}
        for class_name, quality_folder in quality_folders.items():
            title = "Synthetic image quality" if len(quality_folders) == 1 else f"Synthetic image quality: {class_name}"
            lines += _embedded(folder, Path(quality_folder) / "quality.md", title)
    report_json = Path(stages["classify"]["folder"]) / "report.json"
    comparison = read_json(report_json)
    lines += ["## Verdict", ""] + verdict_lines(comparison) + [""]
    lines += external_verdict_lines(comparison)
    lines += power_lines(comparison)
    lines += _caveats(comparison, config)
    lines += _embedded(folder, Path(stages["classify"]["folder"]) / "report.md", "Classifier comparison")
    path = folder / "report.md"
    write_text(path, "\n".join(lines) + "\n")
    power = {"test_images": comparison["test_set"]["num_images"], "test_positives": comparison["test_set"].get("num_positive"),
             "test_per_class": comparison["test_set"].get("num_per_class"),
             "primary_metric": primary_metric(comparison), "interval_half_width": interval_half_width(comparison),
             "minimum_detectable_effect": minimum_detectable_effect(comparison),
             "minimum_detectable_effect_holm": minimum_detectable_effect(comparison, holm=True)}
    write_json(folder / "report.json", {"config": vars(config), "stages": stages, "comparison": comparison, "power": power,
                                        "quality": _quality_json(stages)})
    return path


def _held_out_lines(stages: dict) -> list[str]:
    """One line per GAN class: its held-out realism gap (quality.json), the headline of the synthetic images' quality."""
    from ..quality.realism import describe_gap

    if "quality" not in stages:
        return []
    lines = []
    for class_name, quality_folder in (stages["quality"].get("folders") or {None: stages["quality"]["folder"]}).items():
        path = Path(quality_folder) / "quality.json"
        held_out = (read_json(path).get("held_out") or {}) if path.is_file() else {}
        lines += [f"- synthetic {class_name or 'images'}, {describe_gap(name, gap)}" for name, gap in held_out.items()]
    return lines + ([""] if lines else [])


def external_verdict_lines(report: dict) -> list[str]:
    """Per external test set (`--external`): each arm's primary metric there, its drop from the internal test, and its verdict."""
    primary = primary_metric(report)
    label = LABELS.get(primary, primary)
    lines = []
    for name, record in (report.get("external") or {}).items():
        lines += [f"### On the external test set `{name}` ({record['num_images']} images of `{record['source']}`)", "",
                  "Every model scored as `xgan evaluate` scores it, at its validation-chosen threshold; the table in the comparison "
                  "below has every metric.", "",
                  f"| arm | {label} (mean ± std) | drop from internal test | vs baseline [95% paired interval] | verdict here | verdict internally |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for arm, data in record["arms"].items():
            summary, drop = data["summary"][primary], record["drop_from_internal"][arm][primary]
            comparison, internal = record["comparisons"].get(arm), report["comparisons"].get(arm)
            interval = comparison["differences"][primary] if comparison else None
            versus = f"{_signed(interval['difference'])} [{_signed(interval['low'])}, {_signed(interval['high'])}]" if interval else ""
            lines.append(f"| {arm} | {summary['mean']:.3f} ± {summary['std']:.3f} | {_signed(drop)} | {versus} | "
                         f"{comparison['primary_verdict'] if comparison else ''} | {internal['primary_verdict'] if internal else ''} |")
        lines.append("")
    return lines


def _sampled_words(stages: dict) -> str:
    data, per_class = stages["data"], (stages.get("sample") or {}).get("num_images_per_class")
    if per_class:  # a conditional GAN, drawn per class
        return ("synthetic images sampled from one conditional GAN: " + ", ".join(f"{n} {name}" for name, n in per_class.items())
                + f" ({data['num_needed']} {data['class_name']} needed by the fill arms)")
    return f"{data['num_synthetic']} synthetic images sampled per GAN ({data['num_needed']} needed)"


def _gan_section(folder: Path, stages: dict) -> list[str]:
    runs = stages["gan"].get("runs") or {None: stages["gan"]["run"]}
    if len(set(runs.values())) == 1 and len(runs) > 1:  # one conditional GAN for every class
        runs = {None: next(iter(runs.values()))}
    samples = {}
    if "sample" in stages:
        samples = stages["sample"].get("folders") or {name: stages["sample"]["folder"] for name in runs}
    lines = []
    for class_name, run in runs.items():
        run = Path(run)
        previews = sorted((run / "previews").glob("epoch_*.png"))
        lines += ["## GAN" if len(runs) == 1 else f"## GAN: {class_name}", "",
                  f"Run folder: `{relative(run, folder)}`. Real training images it learned from, then its last "
                  "preview (fixed latents), then the losses and discriminator accuracies.", ""]
        lines.append(f"![real training images]({relative(run / 'reals.png', folder)})")
        if previews:
            lines.append(f"![last preview]({relative(previews[-1], folder)})")
        lines += [f"![losses]({relative(run / 'losses.png', folder)})", ""]
        per_class = stages.get("sample", {}).get("num_images_per_class") or {}
        # A conditional GAN (class None here) was drawn once per class.
        for name, sample_folder in (samples.items() if class_name is None else [(class_name, samples.get(class_name))]):
            if sample_folder is None:
                continue
            sheet = Path(sample_folder) / "contact_sheet.png"
            count = per_class.get(name, stages["sample"]["num_images"])
            lines += [f"{count} synthetic {name} images sampled into `{relative(sheet.parent, folder)}`:", "",
                      f"![contact sheet]({relative(sheet, folder)})", ""]
    return lines


def _embedded(folder: Path, markdown_file: Path, title: str) -> list[str]:

    if not markdown_file.is_file():
        return [f"## {title}", "", f"(missing: {relative(markdown_file, folder)})", ""]
    text = markdown_file.read_text()
    body = [line for line in text.splitlines() if not line.startswith("# ")]
    body = ["#" + line if line.startswith("##") else line for line in body]
    embedded = rebase_links("\n".join(body), relative(markdown_file.parent, folder))
    return [f"## {title}", "", f"From `{relative(markdown_file, folder)}`.", "", embedded.strip(), ""]


def _caveats(comparison: dict, config) -> list[str]:
    test = comparison["test_set"]
    lines = ["## Caveats", ""]
    if comparison["positive_class"] is None:  # three or more classes
        lines.append(f"- {len(test['num_per_class'])} classes: the metrics above are macro averages over the classes (one-vs-rest); "
                     "see the per-class table of the comparison. With few test images per class, read the intervals, not the means.")
    elif test["num_positive"] < 100:
        lines.append(f"- Only {test['num_positive']} test images of the positive class: read the intervals, not the means; "
                     "most differences between arms will be within noise.")
    if Path(str(config.data)).name.startswith("covid_ccby") or config.data == "covid_ccby":
        lines.append("- On the bundled COVID set the two classes come from different sources (case-report figures vs uniform RSNA/NIH "
                     "films): a CNN can separate them by source alone, so high accuracy here says little about the lungs.")
    if str(config.data).startswith("pneumoniamnist") or "pneumoniamnist" in Path(str(config.data)).name:
        lines.append("- PneumoniaMNIST: pediatric films (ages 1-5) of one hospital, 28 px; the classifier's test split is the file's "
                     "official val split (the official test split is held out of this project).")
    lines += ["- The GAN learned from the training split only; its images can still copy training patients: see the "
              "memorization figures before sharing synthetic images.", ""]
    return lines


def _quality_json(stages: dict):
    if "quality" not in stages:
        return None
    path = Path(stages["quality"]["folder"]) / "quality.json"
    return read_json(path) if path.is_file() else None


def rebase_links(markdown: str, prefix: str) -> str:
    """Prefix the relative targets of markdown links and images, so a report can be embedded elsewhere."""
    def rebase(match):
        target = match.group(2)
        if re.match(r"^[a-z]+://|^/|^#", target):
            return match.group(0)
        return f"{match.group(1)}({prefix.rstrip('/')}/{target})"
    return re.sub(r"(!?\[[^\]]*\])\(([^)\s]+)\)", rebase, markdown)
