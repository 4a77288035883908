"""Every classifier backbone from scratch (issue 24): PneumoniaMNIST's internal test and the default study's cut, with and without GAN images.

Each model trains exactly as `xgan classify --backbone NAME --weights none` trains it (`ClassifyConfig.classifier_config`,
`train_classifier`, early stopping on the validation split with the best epoch's weights restored), is called at the
threshold its validation split chooses (Youden's J) and is scored on the real test split, which no model or threshold
sees. Per model: balanced accuracy, ROC-AUC, the epochs, the CPU seconds of the process (training and scoring; every
TensorFlow thread counted, so less sensitive to other users of the machine than wall time) and the parameters.

Two settings, each the same splits and seeds for every backbone:

- `pneumoniamnist`: the bundled PneumoniaMNIST file (its train split less xgan's validation cut; its own val split is
  the test split);
- `study`: the default `xgan run` study's cut (the normal class cut to 120 training images, whole patients; splits.json
  of a study folder, `--study`), trained on the real split (`baseline`) and on it plus the study's synthetic normal
  images up to the ratio (`gan`, the study's own `gan` arm, from the study folder's synthetic/).

ImageNet weights (`--weights imagenet`) are not measured here: they download through Keras and need network access.

Results go to a JSON-lines file as they come (one line per model), ordered seed by seed, backbone by backbone (its
settings together), so a run cut short holds whole seeds of the cheaper backbones; `--table` prints the Markdown table of such a file.

Run from the repository root:
    python benchmarks/bench_backbones.py --out backbones.jsonl --study STUDY_FOLDER [--seeds 3] [--epochs 3] [--size 32]
    python benchmarks/bench_backbones.py --table backbones.jsonl
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

DATA = Path("data/pneumoniamnist/pneumoniamnist_28_trainval.npz")
BACKBONES = ("cnn", "mobilenetv3small", "efficientnetb0", "densenet121", "resnet50", "vgg16")  # cheapest first
SETTINGS = ("pneumoniamnist", "study_baseline", "study_gan")


def experiments(args) -> dict:
    """setting -> (ClassifyConfig, Experiment); the study's only with --study."""
    from xgan.classifier.classify import ClassifyConfig, prepare_experiment

    settings = {}
    common = {"data": args.data, "size": args.size, "epochs": args.epochs, "patience": args.patience}
    config = ClassifyConfig(**common)
    settings["pneumoniamnist"] = (config, prepare_experiment(config))
    if args.study:
        config = ClassifyConfig(**common, splits=args.study / "splits.json", synthetic=(args.study / "synthetic",), ratio=args.ratio,
                                compare=True, positive="normal", seeds=1)
        experiment = prepare_experiment(config)
        settings["study_baseline"] = (config, experiment)
        settings["study_gan"] = (config, experiment)
    return settings


def run_model(setting: str, backbone: str, seed: int, config, experiment, write) -> None:
    import keras

    from xgan.classifier.arms import training_set
    from xgan.classifier.metrics import binary_metrics
    from xgan.classifier.threshold import choose_threshold
    from xgan.classifier.train import predict_probabilities, train_classifier

    positive = experiment.positive
    arm = "gan" if setting == "study_gan" else "baseline"
    images, weights = training_set(arm, config, experiment, seed)
    network = config.classifier_config(seed=seed, class_names=experiment.class_names, positive_class=positive,
                                       backbone=backbone, weights="none", freeze_epochs=0)
    val_y, test_y = experiment.validation.targets(positive), experiment.test.targets(positive)
    cpu = time.process_time()
    result = train_classifier(network, images.images, images.targets(positive), (experiment.validation.images, val_y), class_weight=weights)
    val_p = predict_probabilities(result.model, experiment.validation.images)
    test_p = predict_probabilities(result.model, experiment.test.images)
    cpu = time.process_time() - cpu
    threshold = choose_threshold(val_y, val_p)["threshold"]
    metrics = binary_metrics(test_y, test_p, (experiment.negative, positive), threshold)
    write({"setting": setting, "backbone": backbone, "seed": seed, "size": network.image_size, "num_train": len(images.images),
           "num_test": int(len(test_y)), "epochs": len(result.history), "best_epoch": result.best_epoch,
           "cpu_seconds": round(cpu, 1), "wall_seconds": round(result.seconds, 1), "parameters": int(result.model.count_params()),
           "threshold": threshold, "balanced_accuracy": metrics["balanced_accuracy"], "roc_auc": metrics["roc_auc"],
           "sensitivity": metrics["sensitivity"], "specificity": metrics["specificity"]})
    keras.backend.clear_session()


def table(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lines = ["| setting | backbone | parameters | seeds | epochs | CPU s / model | balanced accuracy | ROC-AUC |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def spread(values, digits=3):
        if len(values) < 2:
            return f"{values[0]:.{digits}f}"
        return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"

    for setting in SETTINGS:
        for backbone in BACKBONES:
            mine = [r for r in rows if r["setting"] == setting and r["backbone"] == backbone]
            if not mine:
                continue
            lines.append(f"| {setting} | {backbone} | {mine[0]['parameters']:,} | {len(mine)} | "
                         f"{statistics.mean(r['epochs'] for r in mine):.1f} | {statistics.mean(r['cpu_seconds'] for r in mine):.0f} | "
                         f"{spread([r['balanced_accuracy'] for r in mine])} | {spread([r['roc_auc'] for r in mine])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="JSON-lines file to append results to")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="most epochs per model (early stopping on validation AUC)")
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--size", type=int, default=32, help="image side: 32, every family's smallest (PneumoniaMNIST's 28 upsampled)")
    parser.add_argument("--backbones", default=",".join(BACKBONES))
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--study", type=Path, help="a finished default `xgan run` study folder: its splits.json and synthetic/")
    parser.add_argument("--ratio", default="0.5", help="the study's balancing target")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--table", type=Path, help="print the Markdown table of a results file and exit")
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.table))
        return 0
    if not args.out:
        parser.error("--out is required (or --table)")
    settings = experiments(args)
    wanted = [s for s in args.settings.split(",") if s in settings]

    def write(row):
        print(json.dumps(row), flush=True)
        with args.out.open("a") as stream:
            stream.write(json.dumps(row) + "\n")

    done = set()
    if args.out.is_file():  # a run cut short goes on where it stopped
        done = {(r["setting"], r["backbone"], r["seed"]) for r in map(json.loads, args.out.read_text().splitlines()) if r}
    for seed in range(args.seeds):
        for backbone in args.backbones.split(","):
            for setting in wanted:
                if (setting, backbone, seed) in done:
                    continue
                config, experiment = settings[setting]
                run_model(setting, backbone, seed, config, experiment, write)
    print(table(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
