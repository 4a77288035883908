"""Which generator makes films a classifier cannot tell from real ones? Issue 21's benchmark of DCGAN variants.

Every variant trains on the minority class of `--data` with `--splits`, at the image size `xgan run`
would use (32 px for data of 32 px or less, else 64) and at the preset's GAN budget (quick: width 32,
700 epochs; paper: width 64, 1000 epochs), unless the variant changes it. The default is the default
study's: PneumoniaMNIST, normal cut to 120 training images (the splits of `xgan info pneumoniamnist
--minority-train 120 --splits FILE`), 32 px, 2,100 steps of 32 images. Each GAN is then measured by
`xgan quality` against the minority's validation films, which it never read:

- the held-out gap (synthetic-vs-unseen two-sample AUC minus the floor of the GAN's own training
  films against the same unseen films) in 16x16 pixels and in the project's classifier features,
  with its 95% interval;
- KID x1000 and precision/recall of the synthetic images against the unseen films;
- near copies of training films (pixel correlation >= 0.95), which must stay at zero;
- CPU minutes of training (this process's user+system time, every thread) and of sampling the
  images `xgan run` would sample on that data (1,314 on the default study; at least 400).

Variants are trained one after the other in this process; each result is appended to
`<out>/results.jsonl` as soon as it is measured, so an interrupted benchmark keeps what it has, and a
variant already in that file is not run again (one `--out` folder holds one data, class, size and
preset). Without `--features-model`, the first report trains the feature classifier and every later
one reuses it. Nothing here reads the test split: the held-out measure uses validation films only.

Run from the repository root (nice it on a shared machine):
    python -m xgan.cli info pneumoniamnist --minority-train 120 --splits samples/bench/splits120.json
    nice -n 10 python benchmarks/bench_generator.py --splits samples/bench/splits120.json --out samples/bench \\
        [--variants dcgan,resize,...] [--seeds 0] [--features-model DIR/model.keras] [--preset paper]
    nice -n 10 python benchmarks/bench_generator.py --data ../shared/data/covid \
        --splits ../shared/data/covid/splits.json --out samples/bench-covid --variants dcgan,ada --seeds 0,1,2
    python benchmarks/bench_generator.py --out samples/bench --table    # the Markdown table of results.jsonl
"""

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

# The GAN stage of each preset of `xgan run` (study/config.py PRESETS).
PRESETS = {"quick": {"width": 32, "epochs": 700}, "paper": {"width": 64, "epochs": 1000}}
NUM_QUALITY_IMAGES = 500
# What one --out folder is about: its rows are comparable only among themselves.
SETTING_KEYS = ("data", "class", "image_size", "preset")

# name -> (GanConfig changes, a pre-training run's changes or None, what it tests)
VARIANTS = {
    "dcgan": ({}, None, "the card's DCGAN at the quick preset (the study's GAN)"),
    "resize": ({"upsample": "resize"}, None, "nearest-neighbour x2 + 3x3 conv in G instead of transposed convolutions"),
    "mbstd": ({"minibatch_std": True}, None, "minibatch standard deviation in D"),
    "sn_hinge": ({"spectral_norm": True, "loss": "hinge"}, None, "spectral normalization in D (no batch norm), hinge loss"),
    "hinge": ({"loss": "hinge"}, None, "hinge loss"),
    "r1": ({"r1_gamma": 0.1}, None, "R1 penalty, gamma 0.1"),
    "ada": ({"ada_target": 0.6}, None, "adaptive augmentation probability, target 0.6, 20 kimg"),
    "width64": ({"width": 64}, None, "the paper preset's width 64"),
    "long": ({"epochs": 1400}, None, "twice the schedule (1400 epochs)"),
    "transfer": ({"epochs": 350}, {"every_class": True, "kimg": 67.2},
                 "pre-trained on every class's 2,987 training films (67 kimg, the quick budget), then 350 epochs on normal"),
    "transfer_freezed": ({"epochs": 350, "freeze_d": 1}, {"every_class": True, "kimg": 67.2},
                         "as transfer, the discriminator's first layer frozen (FreezeD)"),
    "resize_mbstd": ({"upsample": "resize", "minibatch_std": True}, None, "resize + minibatch std"),
    "ddim": ({"model": "ddim", "width": 16}, None, "xgan train --model ddim: the diffusion model (U-Net widths 16/32/64 at 32 px), "
             "the preset's epochs, 20 DDIM steps"),
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def study_setting(data: str, splits: str, class_name: str | None, preset: str) -> dict:
    """The class, image size and synthetic count that `xgan run --data DATA --splits SPLITS` would use."""
    from xgan.study.config import StudyConfig
    from xgan.study.plan import plan_study

    plan = plan_study(StudyConfig(data=data, splits=splits, class_name=class_name, preset=preset))
    return {"data": data, "splits": splits, "class": plan.class_name, "image_size": plan.size, "preset": preset,
            "study_samples": plan.num_synthetic, "train_images": plan.train_counts[plan.class_name]}


def gan_options(setting: dict) -> dict:
    return {"data": setting["data"], "splits": setting["splits"], "image_size": setting["image_size"]} | PRESETS[setting["preset"]]


def pretrained_run(out: Path, setting: dict, changes: dict, seed: int) -> tuple[Path, float]:
    """The every-class pre-training run (shared by the transfer variants of one seed), trained once."""
    from xgan.gan import GanConfig, train_gan

    marker = out / f"pretrain-seed{seed}.json"
    if marker.is_file():
        saved = json.loads(marker.read_text())
        return Path(saved["run"]), 0.0
    began = cpu_seconds()
    run = train_gan(GanConfig(seed=seed, out=str(out / "runs"), **(gan_options(setting) | changes)))
    seconds = cpu_seconds() - began
    marker.write_text(json.dumps({"run": str(run), "cpu_seconds": seconds}))
    return run, seconds


def measure(name: str, seed: int, out: Path, setting: dict, features_model: str | None) -> dict:
    from xgan.gan import GanConfig, generate_images, load_generator, train_gan
    from xgan.quality import QualityConfig, run_quality

    changes, pretrain, description = VARIANTS[name]
    pretrain_seconds = 0.0
    if pretrain is not None:
        source, pretrain_seconds = pretrained_run(out, setting, pretrain, seed)
        changes = changes | {"init_from": str(source)}
        pretrain_seconds = json.loads((out / f"pretrain-seed{seed}.json").read_text())["cpu_seconds"]
    load_before = load_average()
    began, wall = cpu_seconds(), time.perf_counter()
    run = train_gan(GanConfig(class_name=setting["class"], seed=seed, out=str(out / "runs"), **(gan_options(setting) | changes)))
    train_seconds, train_wall = cpu_seconds() - began, time.perf_counter() - wall
    generator, info = load_generator(run)
    began = cpu_seconds()
    generate_images(generator, setting["study_samples"], seed, info["latent_dim"])
    sample_seconds = cpu_seconds() - began
    quality_dir = out / "quality" / f"{name}-seed{seed}"
    run_quality(QualityConfig(run=str(run), num_images=NUM_QUALITY_IMAGES, features=("classifier", "pixels"),
                              features_model=features_model, out=str(quality_dir), overwrite=True, seed=seed))
    report = json.loads((quality_dir / "quality.json").read_text())
    trained = sorted((quality_dir / "feature_classifier").glob("*.keras"))  # trained here when none was given
    row = {"variant": name, "seed": seed, "description": description, "changes": changes, "run": str(run),
           **{key: setting[key] for key in SETTING_KEYS}, "study_samples": setting["study_samples"],
           "features_model": features_model or (str(trained[0]) if trained else None),
           "quality": str(quality_dir), "train_cpu_min": round(train_seconds / 60, 2),
           "pretrain_cpu_min": round(pretrain_seconds / 60, 2), "train_wall_min": round(train_wall / 60, 2),
           "sample_cpu_s": round(sample_seconds, 1), "load_average_before": load_before, "load_average_after": load_average(),
           **quality_fields(report)}
    return row


def quality_fields(report: dict) -> dict:
    """A results row's measured fields from a quality.json: near copies, giveaways, and per feature space the
    held-out gap with its interval, the AUCs, KID and precision/recall against the unseen films."""
    fields = {"near_copies": report["memorization"]["num_near_copies"],
              "max_correlation": report["memorization"]["max_correlation"],
              "giveaways": [row["statistic"] for row in report["telltales"] or [] if row["giveaway"]]}
    for space, gap in report["held_out"].items():
        key = "pixels" if space.startswith("pixels") else space
        val = report["features"][space]["val"]
        pr = val["precision_recall_synthetic_vs_val"] or {}
        fields[key] = {"gap": gap["gap"], "gap_ci": [gap["gap_ci_low"], gap["gap_ci_high"]], "auc": gap["synthetic_auc"],
                       "floor": gap["floor_auc"], "kid_x1000": 1000 * val["kid_synthetic_vs_val"]["mean"],
                       "kid_x1000_std": 1000 * val["kid_synthetic_vs_val"]["std"],
                       "precision": pr.get("precision"), "recall": pr.get("recall")}
    return fields


def table(rows: list[dict]) -> str:
    lines = ["| variant | seed | gap pixels [95% CI] | gap classifier [95% CI] | AUC px / floor | KID×1000 px vs unseen | "
             "precision / recall px vs unseen | precision / recall classifier vs unseen | near copies | train CPU min | "
             f"sample CPU s ({rows[0].get('study_samples', 1314) if rows else 1314:,}) | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        px, cl = row["pixels"], row.get("classifier", {})
        pretrain = f" (+{row['pretrain_cpu_min']:.1f} pre-training)" if row.get("pretrain_cpu_min") else ""
        lines.append(
            f"| {row['variant']} | {row['seed']} | {px['gap']:+.2f} [{px['gap_ci'][0]:+.2f}, {px['gap_ci'][1]:+.2f}] | "
            + (f"{cl['gap']:+.2f} [{cl['gap_ci'][0]:+.2f}, {cl['gap_ci'][1]:+.2f}] | " if cl else "- | ")
            + f"{px['auc']:.2f} / {px['floor']:.2f} | {px['kid_x1000']:.2f} ± {px['kid_x1000_std']:.2f} | "
            f"{px['precision']:.2f} / {px['recall']:.2f} | "
            + (f"{cl['precision']:.2f} / {cl['recall']:.2f} | " if cl else "- | ")
            + f"{row['near_copies']} | {row['train_cpu_min']:.1f}{pretrain} | {row['sample_cpu_s']:.1f} | "
            f"{row['load_average_before'].split()[0]}-{row['load_average_after'].split()[0]} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", default="pneumoniamnist", help="any dataset xgan reads [default: the bundled PneumoniaMNIST]")
    parser.add_argument("--splits", help="its splits.json; for the default study the cut one "
                                         "(xgan info pneumoniamnist --minority-train 120 --splits FILE)")
    parser.add_argument("--class", dest="class_name", default=None, help="the class the GANs learn [default: the minority]")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick", help="the GAN budget of this `xgan run` preset")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--features-model", default=None, help="a saved classifier for the classifier features (trained once otherwise)")
    parser.add_argument("--table", action="store_true", help="print the Markdown table of the results so far and stop")
    args = parser.parse_args(argv)
    results = args.out / "results.jsonl"
    done = [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []
    if args.table:
        print(table(done))
        return 0
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not args.splits:
        parser.error(f"unknown variants {unknown} (known: {', '.join(VARIANTS)})" if unknown else "--splits is required")
    setting = study_setting(args.data, args.splits, args.class_name, args.preset)
    # Rows written before --data existed are the default study's, quick preset.
    default = {"data": "pneumoniamnist", "class": "normal", "image_size": 32, "preset": "quick"}
    other = [row for row in done if any(row.get(key, default[key]) != setting[key] for key in SETTING_KEYS)]
    if other:
        parser.error(f"{results} holds results of another setting ({', '.join(f'{k}={other[0].get(k, default[k])}' for k in SETTING_KEYS)}); "
                     f"pass another --out for {', '.join(f'{k}={setting[k]}' for k in SETTING_KEYS)}")
    print(f"{setting['data']}: class {setting['class']} ({setting['train_images']} training images), {setting['image_size']} px, "
          f"{args.preset} preset {PRESETS[args.preset]}, {setting['study_samples']} study samples", flush=True)
    features_model = args.features_model or next((row["features_model"] for row in done if row.get("features_model")), None)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in (int(value) for value in args.seeds.split(",")):
        for name in names:
            if any(row["variant"] == name and row["seed"] == seed for row in done):
                continue
            row = measure(name, seed, args.out, setting, features_model)
            features_model = features_model or row["features_model"]
            with open(results, "a") as handle:
                handle.write(json.dumps(row) + "\n")
            done.append(row)
            print(table([row]).splitlines()[-1], flush=True)
    print(table(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
