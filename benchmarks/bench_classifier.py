"""Which resolution, schedule, label smoothing and first-block width pay for xgan's CNN on PneumoniaMNIST.

Every variant trains the study's CNN family (batch norm, ReLU convolutions, LeakyReLU dense layers,
dropout 0.5) with `xgan classify`'s defaults except the one thing it changes, over the same seeds and
the same splits (the file's train split minus xgan's validation cut; xgan's test split is the file's
own val split, which no model or threshold ever sees). For each model: the threshold chosen on the
validation split (Youden's J), test accuracy at it and at 0.5, balanced accuracy, ROC-AUC, the epoch
count and the training time; for each variant: mean ± std over seeds, and the seed ensemble (mean
probability, its threshold chosen on the ensemble's validation probabilities), plain and with
test-time augmentation.

Results go to a JSON-lines file as they come (one line per model, one per variant), so a run cut
short still leaves its finished variants; `--table` prints the Markdown table of such a file.

Run from the repository root:
    python benchmarks/bench_classifier.py --out bench_classifier.jsonl   [--seeds 3] [--variants default,cosine]
    python benchmarks/bench_classifier.py --table bench_classifier.jsonl
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

DATA = Path("data/pneumoniamnist/pneumoniamnist_28_trainval.npz")

# name -> (ClassifyConfig overrides, ClassifierConfig overrides). Ordered cheap first, so a run cut
# short still holds the 28 px variants.
VARIANTS = {
    "default": ({}, {}),
    "cosine": ({}, {"schedule": "cosine"}),
    "plateau": ({}, {"schedule": "plateau"}),
    "label_smoothing_0.1": ({}, {"label_smoothing": 0.1}),
    "wide_first_block": ({}, {"conv_filters": (32, 32, 64)}),
    "size_32": ({"size": 32}, {}),
    "cosine+smoothing+wide": ({}, {"schedule": "cosine", "label_smoothing": 0.1, "conv_filters": (32, 32, 64)}),
    "size_64": ({"size": 64}, {}),
}


def run_variant(name: str, seeds: list[int], data: Path, write) -> None:
    import keras
    import numpy as np

    from xgan.classifier.classify import ClassifyConfig, prepare_experiment
    from xgan.classifier.metrics import binary_metrics
    from xgan.classifier.threshold import choose_threshold
    from xgan.classifier.train import predict_probabilities, train_classifier

    classify_overrides, network_overrides = VARIANTS[name]
    config = ClassifyConfig(data=data, **classify_overrides)
    experiment = prepare_experiment(config)
    positive = experiment.positive
    val_y, test_y = experiment.validation.targets(positive), experiment.test.targets(positive)
    names = (experiment.negative, positive)
    validation, test, test_tta, validation_tta = [], [], [], []
    for seed in seeds:
        network = config.classifier_config(seed=seed, class_names=experiment.class_names, positive_class=positive, **network_overrides)
        result = train_classifier(network, experiment.train.images, experiment.train.targets(positive),
                                  (experiment.validation.images, val_y))
        val_p = predict_probabilities(result.model, experiment.validation.images)
        test_p = predict_probabilities(result.model, experiment.test.images)
        start = time.perf_counter()
        test_p_tta = predict_probabilities(result.model, experiment.test.images, tta=True)
        tta_seconds = time.perf_counter() - start
        val_p_tta = predict_probabilities(result.model, experiment.validation.images, tta=True)
        threshold = choose_threshold(val_y, val_p)["threshold"]
        threshold_tta = choose_threshold(val_y, val_p_tta)["threshold"]
        chosen, half = binary_metrics(test_y, test_p, names, threshold), binary_metrics(test_y, test_p, names)
        with_tta = binary_metrics(test_y, test_p_tta, names, threshold_tta)
        write({"kind": "model", "variant": name, "seed": seed, "size": config.size, "seconds": round(result.seconds, 1),
               "epochs": len(result.history), "best_epoch": result.best_epoch, "threshold": threshold,
               "accuracy": chosen["accuracy"], "balanced_accuracy": chosen["balanced_accuracy"], "roc_auc": chosen["roc_auc"],
               "sensitivity": chosen["sensitivity"], "specificity": chosen["specificity"],
               "accuracy_at_0.5": half["accuracy"], "balanced_accuracy_at_0.5": half["balanced_accuracy"],
               "tta_accuracy": with_tta["accuracy"], "tta_roc_auc": with_tta["roc_auc"], "tta_seconds": round(tta_seconds, 2)})
        validation.append(val_p), test.append(test_p), validation_tta.append(val_p_tta), test_tta.append(test_p_tta)
        keras.backend.clear_session()
    ensemble = {}
    for label, val_ps, test_ps in (("", validation, test), ("tta_", validation_tta, test_tta)):
        val_mean, test_mean = np.mean(val_ps, 0), np.mean(test_ps, 0)
        metrics = binary_metrics(test_y, test_mean, names, choose_threshold(val_y, val_mean)["threshold"])
        ensemble.update({f"{label}accuracy": metrics["accuracy"], f"{label}balanced_accuracy": metrics["balanced_accuracy"],
                         f"{label}roc_auc": metrics["roc_auc"]})
    write({"kind": "ensemble", "variant": name, "seeds": seeds, "size": config.size, "num_test": int(len(test_y)), **ensemble})


def table(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    models = [r for r in rows if r["kind"] == "model"]
    lines = ["| variant | px | s / model | epochs | accuracy (chosen thr.) | accuracy at 0.5 | balanced acc. | ROC-AUC | "
             "accuracy with TTA | ensemble accuracy | ensemble ROC-AUC | ensemble + TTA accuracy | ensemble + TTA ROC-AUC |",
             "| --- |" + " ---: |" * 12]

    def spread(values, digits=3):
        if len(values) < 2:
            return f"{values[0]:.{digits}f}"
        return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"

    for ensemble in (r for r in rows if r["kind"] == "ensemble"):
        mine = [m for m in models if m["variant"] == ensemble["variant"]]
        lines.append(f"| {ensemble['variant']} | {ensemble['size']} | {statistics.mean(m['seconds'] for m in mine):.0f} | "
                     f"{statistics.mean(m['epochs'] for m in mine):.0f} | {spread([m['accuracy'] for m in mine])} | "
                     f"{spread([m['accuracy_at_0.5'] for m in mine])} | {spread([m['balanced_accuracy'] for m in mine])} | "
                     f"{spread([m['roc_auc'] for m in mine], 4)} | {spread([m['tta_accuracy'] for m in mine])} | {ensemble['accuracy']:.3f} | {ensemble['roc_auc']:.4f} | "
                     f"{ensemble['tta_accuracy']:.3f} | {ensemble['tta_roc_auc']:.4f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="JSON-lines file to append results to")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--table", type=Path, help="print the Markdown table of a results file and exit")
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.table))
        return 0
    if args.out is None:
        parser.error("--out is required unless --table is given")
    unknown = [v for v in args.variants.split(",") if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; expected one of {', '.join(VARIANTS)}")

    def write(record):
        with open(args.out, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)

    for name in args.variants.split(","):
        run_variant(name, list(range(args.seeds)), args.data, write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
