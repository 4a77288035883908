"""The quality report: `quality.json` (every number), `quality.md` (the numbers read out) and figures.

The Markdown is made by pure functions of the JSON-ready report dict, so it can be tested without
images or models.
"""

from pathlib import Path

from ..runs import write_json, write_text
from .realism import describe_gap
from .telltales import describe_telltales

REPORT_JSON = "quality.json"
REPORT_MARKDOWN = "quality.md"
SELECTION_JSON = "checkpoints.json"
SELECTION_MARKDOWN = "checkpoints.md"

LOW_RECALL = 0.2  # below this share of real images covered, diversity is poor (mode collapse likely)


def describe_two_sample(two_sample: dict | None) -> str:
    """One sentence on how well a classifier tells real from synthetic."""
    if not two_sample:
        return "two-sample test: not run (too few images)"
    auc, low, high = two_sample["auc"], two_sample["auc_ci_low"], two_sample["auc_ci_high"]
    text = f"a classifier tells real from synthetic with AUC {auc:.2f} (95% CI {low:.2f}-{high:.2f}): "
    if low <= 0.5 <= high:
        return text + "not distinguishable from chance at this sample size (good)"
    if auc >= 0.95:
        return text + "almost perfectly separable: the synthetic images are easy to tell apart"
    if auc > 0.5:
        return text + "distinguishable: the synthetic images differ from real ones in these features"
    return text + "below chance: the cross-validated classifier is anti-learning (sets too alike or too small)"


def describe_precision_recall(precision_recall: dict | None, baseline: dict | None) -> str:
    """One sentence on fidelity (precision) and diversity (recall)."""
    if not precision_recall:
        return "precision/recall: not computed (too few images)"
    precision, recall = precision_recall["precision"], precision_recall["recall"]
    text = (f"precision {precision:.2f} (share of synthetic images inside the real manifold: fidelity), "
            f"recall {recall:.2f} (share of real images inside the synthetic manifold: diversity), on sets of "
            f"{precision_recall.get('set_size', '?')} images each")
    if baseline:
        text += f"; held-out real images score precision {baseline['precision']:.2f}, recall {baseline['recall']:.2f}"
    if recall < LOW_RECALL:
        text += f". Recall below {LOW_RECALL}: the generator covers little of the real variety (mode collapse likely)"
    return text


def describe_kid(kid: dict, val: dict | None) -> str:
    """One sentence on KID, against the real-versus-real baseline when there is one."""
    text = (f"KID x 1000 = {1000 * kid['mean']:.2f} +- {1000 * kid['std']:.2f} "
            f"({kid['num_subsets']} subsets of {kid['subset_size']})")
    if val:
        baseline = val["kid_val_vs_train"]
        text += (f"; the {val['num_val']} held-out real images against the same training images score "
                 f"{1000 * baseline['mean']:.2f} +- {1000 * baseline['std']:.2f}, which is what a perfect generator would get")
        if val["num_val"] < 20:
            text += " (from so few images this baseline is itself very uncertain)"
    return text


def _kid_cell(kid: dict | None) -> str:
    return "-" if not kid else f"{1000 * kid['mean']:.2f} ± {1000 * kid['std']:.2f} (n={kid['subset_size']})"


def held_out_lines(report: dict) -> list[str]:
    """The held-out realism section: the gap per feature space, KID and precision/recall against unseen images, the giveaways."""
    held_out = report.get("held_out") or {}
    if not held_out:
        return []
    lines = [
        "## Held-out realism (against real images the GAN never read)",
        "",
        f"The {next(iter(held_out.values()))['num_unseen']} validation images of the class were never read by the GAN. "
        "A cross-validated classifier is asked to tell synthetic images from them, and, as the floor, the GAN's own "
        "training images from them (two real sets of one class differ too). The **gap** is the synthetic AUC minus the "
        "floor: 0 means the synthetic images are as hard to spot as real training images. The synthetic set is "
        "subsampled to the training set's size (mean over draws), so both AUCs have equal power; the interval is ±1.96 "
        "standard errors, sqrt(SE_synthetic² + SE_floor²) from Hanley & McNeil, which overstates the error since the "
        "two AUCs share the unseen images.",
        "",
        "| features | gap [95% CI] | AUC synthetic vs unseen | AUC training vs unseen (floor) | KID ×1000 synthetic vs unseen "
        "| precision vs unseen | recall vs unseen |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, gap in held_out.items():
        val = report["features"][name]["val"]
        pr = val.get("precision_recall_synthetic_vs_val")
        lines.append(f"| {name} | **{gap['gap']:+.2f}** [{gap['gap_ci_low']:+.2f}, {gap['gap_ci_high']:+.2f}] | "
                     f"{gap['synthetic_auc']:.2f} ± {gap['synthetic_standard_error']:.2f} | "
                     f"{gap['floor_auc']:.2f} ± {gap['floor_standard_error']:.2f} | {_kid_cell(val['kid_synthetic_vs_val'])} | "
                     + (f"{pr['precision']:.2f} | {pr['recall']:.2f} |" if pr else "- | - |"))
    lines += ["", f"- {describe_gap(*next(iter(held_out.items())))}."]
    telltales = report.get("telltales")
    if telltales:
        lines += [f"- {describe_telltales(telltales)}.", "",
                  "| image statistic | median synthetic | median unseen | median training | AUC synthetic vs unseen | floor AUC |",
                  "|---|---|---|---|---|---|"]
        for row in telltales[:6]:
            lines.append(f"| {row['statistic']}{' **(giveaway)**' if row['giveaway'] else ''} | {row['median_synthetic']:.3g} | "
                         f"{row['median_unseen']:.3g} | {row['median_training']:.3g} | {row['auc']:.2f} | {row['floor_auc']:.2f} |")
    return lines + [""]


def format_markdown(report: dict) -> str:
    """The report as Markdown: what was compared, a verdict, the metric table, memorization, figures."""
    synthetic, reference, memorization = report["synthetic"], report["reference"], report["memorization"]
    lines = [f"# Synthetic image quality: class '{reference['class_name']}'", ""]
    if synthetic["source"] == "run":
        lines.append(f"- **Synthetic**: {synthetic['num_images']} images sampled from GAN run `{synthetic['run']}`, "
                     f"checkpoint `{synthetic['checkpoint']}` (step {synthetic['checkpoint_step']}), seed {synthetic['seed']}.")
    else:
        lines.append(f"- **Synthetic**: {synthetic['num_images']} images from folder `{synthetic['folder']}`"
                     + (f" (made by run `{synthetic['run']}`)" if synthetic.get("run") else "") + ".")
    lines += [
        f"- **Real reference**: {reference['note']}; dataset `{reference['dataset']}` (fingerprint "
        f"{reference['fingerprint']}), {reference['image_size']} px. All distribution metrics compare with these "
        f"training images; the {reference['num_val']} held-out validation images of the class are a second, small "
        "reference and give the real-versus-real baseline.",
        "",
        "## Verdict",
        "",
    ]
    primary = report["primary_features"]
    metrics = report["features"][primary]
    lines += [
        f"In the **{primary}** feature space:",
        "",
        f"- {describe_kid(metrics['kid'], metrics['val'])}.",
        f"- {describe_precision_recall(metrics['precision_recall'], (metrics['val'] or {}).get('precision_recall_val_vs_train'))}.",
        f"- {describe_two_sample(metrics['two_sample'])}.",
        f"- memorization: {memorization['num_near_copies']} of {memorization['num_synthetic']} synthetic images "
        f"({100 * memorization['share_near_copies']:.1f}%) reach pixel correlation >= {memorization['threshold']} "
        f"with a training image (highest: {memorization['max_correlation']:.3f}).",
        "",
    ]
    for warning in report["warnings"]:
        lines += [f"> **WARNING**: {warning}", ""]
    lines += held_out_lines(report)
    lines += [
        "## Distribution metrics",
        "",
        "| features | KID ×1000 synthetic vs train | KID ×1000 held-out real vs train | KID ×1000 synthetic vs held-out "
        "| Fréchet distance (biased) | precision | recall | density | coverage | two-sample AUC [95% CI] |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, metrics in report["features"].items():
        pr, two, val = metrics["precision_recall"], metrics["two_sample"], metrics["val"] or {}
        pr_cells = (f"{pr['precision']:.2f} | {pr['recall']:.2f} | {pr['density']:.2f} | {pr['coverage']:.2f}"
                    if pr else "- | - | - | -")
        auc = f"{two['auc']:.2f} [{two['auc_ci_low']:.2f}, {two['auc_ci_high']:.2f}]" if two else "-"
        lines.append(f"| {name} | {_kid_cell(metrics['kid'])} | {_kid_cell(val.get('kid_val_vs_train'))} | "
                     f"{_kid_cell(val.get('kid_synthetic_vs_val'))} | {metrics['frechet_distance']['value']:.2f} | "
                     f"{pr_cells} | {auc} |")
    lines += ["", "Feature spaces:", ""]
    for name, metrics in report["features"].items():
        lines.append(f"- **{name}** ({metrics['dimension']} dimensions): {metrics['description']}.")
        lines += [f"  - {note}" for note in metrics["notes"]]
    lines += [
        "",
        "How to read: KID (cubic polynomial kernel, unbiased, mean ± std over random subsets) is 0 in "
        "expectation when the two sets come from one distribution and can be slightly negative; compare it "
        "with the held-out-real column, which is what a perfect generator would score. The Fréchet distance "
        "(FID's formula) is biased upwards at these sizes and is given for comparison with equal-sized reports "
        "only. Precision is fidelity, recall is diversity (k-NN manifolds, "
        f"k={report['config']['neighbours']}, the larger set subsampled to the smaller one's size and averaged "
        "over 10 draws, as k-NN radii shrink when a set grows); a collapsed generator has low recall. The two-sample AUC is "
        "cross-validated (each image scored by a model that never saw it); 0.5 is best.",
        "",
        "## Memorization (patient privacy)",
        "",
        f"Every synthetic image was matched to its best-correlated real training image (Pearson correlation of "
        f"the {reference['image_size']}x{reference['image_size']} pixels; 1 = identical up to brightness and contrast). "
        f"Near-copy threshold: r >= {memorization['threshold']}.",
        "",
    ]
    baseline = memorization["real_vs_real_nearest_correlation"]
    if baseline:
        lines.append(f"- Baseline: a training image and its nearest *other* training image correlate at median "
                     f"{baseline['median']:.3f}, 99th percentile {baseline['p99']:.3f}, max {baseline['max']:.3f} "
                     f"(over {memorization['num_real_training']} images).")
        if baseline["p99"] >= memorization["threshold"]:
            lines.append(f"- **The threshold {memorization['threshold']} is below the 99th percentile of real-vs-real "
                         "correlations: distinct real images reach it, so flags need a look by eye; consider a higher "
                         "--copy-threshold.**")
    lines += [
        f"- Synthetic images: median best correlation {memorization['median_correlation']:.3f}, max "
        f"{memorization['max_correlation']:.3f}; "
        + (f"{100 * memorization['share_above_real_max']:.1f}% are closer to a training image than any two training "
           "images are to each other; " if memorization.get("share_above_real_max") is not None else "")
        + f"they have {memorization['num_distinct_nearest_training_images']} distinct nearest training images.",
        f"- Near copies: {memorization['num_near_copies']} ({100 * memorization['share_near_copies']:.1f}%).",
    ]
    features = memorization.get("features")
    if features:
        ratio = features["distance_ratio_to_real_nearest_median"]
        lines.append(f"- In {features['name']} feature space, the nearest-training-image distance over the median "
                     f"nearest distance between training images: min {ratio['min']:.2f}, median {ratio['median']:.2f} "
                     f"(below 1: closer than training images are to each other); the feature and pixel neighbours "
                     f"agree for {100 * features['share_same_nearest_as_pixels']:.0f}% of the images.")
    for copy in memorization["near_copies"][:20]:
        lines.append(f"  - synthetic `{copy['synthetic_name']}` ~ training `{copy['training_key']}` (r = {copy['correlation']:.3f})")
    if len(memorization["near_copies"]) > 20:
        lines.append(f"  - ... {len(memorization['near_copies']) - 20} more in quality.json")
    lines += ["", "## Figures", ""]
    for figure in report["figures"]:
        lines += [f"![{figure}]({figure})", ""]
    lines += [f"Settings and every number: `{REPORT_JSON}`.", ""]
    return "\n".join(lines)


def _write_json_and_markdown(out_dir: Path, data: dict, json_name: str, markdown_name: str, formatter) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    write_json(out_dir / json_name, data)
    write_text(out_dir / markdown_name, formatter(data))
    return out_dir / json_name, out_dir / markdown_name


def write_report(out_dir: Path, report: dict) -> tuple[Path, Path]:
    """Write quality.json and quality.md into `out_dir`, atomically."""
    return _write_json_and_markdown(out_dir, report, REPORT_JSON, REPORT_MARKDOWN, format_markdown)


def format_selection_markdown(selection: dict) -> str:
    """The checkpoint-selection table and the recommendation, as Markdown."""
    lines = [
        f"# Checkpoint selection: run `{selection['run']}`", "",
        f"Each checkpoint generated {selection['num_images']} images from the same latents (seed "
        f"{selection['seed']}), scored in the **{selection['feature_name']}** feature space "
        f"({selection['feature_description']}) "
        + (f"by the held-out gap: the two-sample AUC against the {selection['num_unseen']} validation images of the class, "
           f"which the GAN never read, minus the floor of {selection['reference_note']} against the same images; KID is "
           "against the unseen images too." if selection.get("num_unseen")
           else f"by KID against {selection['reference_note']} (no validation images of the class to hold out)."), "",
        "| checkpoint | step | KID ×1000 (mean ± std) | held-out gap [95% CI] | AUC vs unseen | |", "|---|---|---|---|---|---|",
    ]
    for score in selection["scores"]:
        mark = "**recommended**" if score["checkpoint"] == selection["recommended"] else ""
        gap = score.get("held_out")
        gap_cells = (f"{gap['gap']:+.2f} [{gap['gap_ci_low']:+.2f}, {gap['gap_ci_high']:+.2f}] | {gap['synthetic_auc']:.2f}"
                     if gap else "- | -")
        lines.append(f"| {score['checkpoint']} | {score['step']} | {_kid_cell(score['kid'])} | {gap_cells} | {mark} |")
    lines += ["", f"**Recommendation**: {selection['reason']}", "", f"Sample from it: `{selection['sample_command']}`",
              "", "![KID per checkpoint](checkpoint_kid.png)", ""]
    for warning in selection.get("warnings", []):
        lines += [f"> **WARNING**: {warning}", ""]
    return "\n".join(lines)


def write_selection(out_dir: Path, selection: dict) -> tuple[Path, Path]:
    """Write checkpoints.json and checkpoints.md into `out_dir`, atomically."""
    return _write_json_and_markdown(out_dir, selection, SELECTION_JSON, SELECTION_MARKDOWN, format_selection_markdown)
