"""The study's report.md: data, GAN previews, quality, the comparison, and a plain verdict."""

import os
import platform
from pathlib import Path

from .runs import read_json, write_json, write_text

HEADLINE = ("balanced_accuracy", "roc_auc", "sensitivity", "specificity")
LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "sensitivity": "sensitivity",
          "specificity": "specificity", "precision": "precision", "f1": "F1", "roc_auc": "ROC-AUC"}


def relative(path: str | Path, folder: Path) -> str:
    """A link target relative to the report's folder, with forward slashes."""
    return Path(os.path.relpath(Path(path).resolve(), folder.resolve())).as_posix()


def verdict_lines(report: dict) -> list[str]:
    """Plain-language verdict on the GAN arm, from the comparison's report.json.

    Says "within noise" whenever the paired interval includes zero, and compares the GAN arm with the
    oversampling arm's mean, since beating "nothing" is not enough.
    """
    arms, comparisons = report["arms"], report["comparisons"]
    if "gan" not in comparisons:
        return ["The GAN arm did not run, so there is no verdict on GAN images."]
    gan = comparisons["gan"]
    better = [m for m in HEADLINE if gan["verdicts"][m] == "better"]
    worse = [m for m in HEADLINE if gan["verdicts"][m] == "worse"]
    noise = [m for m in HEADLINE if gan["verdicts"][m] == "within noise"]
    lines = []
    if not better and not worse:
        lines.append("**Within noise.** On this test set and these seeds, adding GAN images made no difference that can be told "
                     "apart from chance on any headline metric (every 95% interval of the paired difference includes zero).")
    else:
        if better:
            lines.append("**GAN images helped** on " + ", ".join(LABELS[m] for m in better) + " (the 95% interval of the paired difference excludes zero).")
        if worse:
            lines.append("**GAN images hurt** " + ", ".join(LABELS[m] for m in worse) + " (the 95% interval excludes zero).")
        if noise:
            lines.append("Within noise: " + ", ".join(LABELS[m] for m in noise) + ".")
    if "oversample" in arms:
        rows = []
        for metric in HEADLINE:
            g, o = arms["gan"]["summary"][metric]["mean"], arms["oversample"]["summary"][metric]["mean"]
            rows.append(f"{LABELS[metric]} {g:.3f} vs {o:.3f}")
        lines.append("GAN arm against plain random oversampling of the real minority images (means over seeds): " + "; ".join(rows) +
                     ". A GAN is only worth its cost where it beats oversampling, not just the untouched baseline.")
    return lines


def write_study_report(folder: Path, config, stages: dict) -> Path:
    """Write `report.md` and `report.json` in the study folder; returns the report.md path."""
    folder = Path(folder)
    lines = ["# xgan study report", ""]
    total = sum(stage.get("seconds", 0) for stage in stages.values())
    lines += [f"- dataset: `{config.data or 'bundled covid_ccby'}`, preset **{config.preset}** "
              f"(GAN {config.gan_epochs} epochs, classifier up to {config.classifier_epochs} epochs, {config.seeds} seeds, "
              f"ratio {config.ratio}, {config.size} px)",
              f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores; "
              f"stages took " + ", ".join(f"{name} {stage.get('seconds', 0):.0f} s" for name, stage in stages.items() if name != "report")
              + f" ({total / 60:.1f} min in all)",
              "- every evaluation image is a real image of the test split; no synthetic image and no image the GAN read is ever "
              "evaluated (checked in code).", ""]
    lines += ["## Data", "", "```", (folder / "data_summary.txt").read_text().rstrip(), "```", ""]
    lines += _gan_section(folder, stages)
    if "quality" in stages:
        lines += _embedded(folder, Path(stages["quality"]["folder"]) / "quality.md", "Synthetic image quality")
    report_json = Path(stages["classify"]["folder"]) / "report.json"
    comparison = read_json(report_json)
    lines += ["## Verdict", ""] + verdict_lines(comparison) + [""]
    lines += _caveats(comparison)
    lines += _embedded(folder, Path(stages["classify"]["folder"]) / "report.md", "Classifier comparison")
    path = folder / "report.md"
    write_text(path, "\n".join(lines) + "\n")
    write_json(folder / "report.json", {"config": vars(config), "stages": stages, "comparison": comparison,
                                        "quality": _quality_json(stages)})
    return path


def _gan_section(folder: Path, stages: dict) -> list[str]:
    run = Path(stages["gan"]["run"])
    previews = sorted((run / "previews").glob("epoch_*.png"))
    lines = ["## GAN", "", f"Run folder: `{relative(run, folder)}`. Real training images it learned from, then its last "
             "preview (fixed latents), then the losses and discriminator accuracies.", ""]
    lines.append(f"![real training images]({relative(run / 'reals.png', folder)})")
    if previews:
        lines.append(f"![last preview]({relative(previews[-1], folder)})")
    lines += [f"![losses]({relative(run / 'losses.png', folder)})", ""]
    if "sample" in stages:
        sheet = Path(stages["sample"]["folder"]) / "contact_sheet.png"
        lines += [f"{stages['sample']['num_images']} synthetic images sampled into `{relative(sheet.parent, folder)}`:", "",
                  f"![contact sheet]({relative(sheet, folder)})", ""]
    return lines


def _embedded(folder: Path, markdown_file: Path, title: str) -> list[str]:
    from .study import rebase_links

    if not markdown_file.is_file():
        return [f"## {title}", "", f"(missing: {relative(markdown_file, folder)})", ""]
    text = markdown_file.read_text()
    body = [line for line in text.splitlines() if not line.startswith("# ")]
    body = ["#" + line if line.startswith("##") else line for line in body]
    embedded = rebase_links("\n".join(body), relative(markdown_file.parent, folder))
    return [f"## {title}", "", f"From `{relative(markdown_file, folder)}`.", "", embedded.strip(), ""]


def _caveats(comparison: dict) -> list[str]:
    test = comparison["test_set"]
    positive = comparison["positive_class"]
    lines = ["## Caveats", ""]
    if test["num_positive"]:
        lines.append(f"- The test split holds {test['num_positive']} {positive} image(s): one image moves sensitivity by "
                     f"{1 / test['num_positive']:.3f}. Read the intervals, not the means.")
    lines += ["- On the bundled COVID set the two classes come from different sources (case-report figures vs uniform RSNA/NIH "
              "films): a CNN can separate them by source alone, so high accuracy here says little about the lungs.",
              "- The GAN learned from the training split only; its images can still copy training patients: see the "
              "memorization figures before sharing synthetic images.", ""]
    return lines


def _quality_json(stages: dict):
    if "quality" not in stages:
        return None
    path = Path(stages["quality"]["folder"]) / "quality.json"
    return read_json(path) if path.is_file() else None
