"""The `xgan` command line: reads options, calls one library function per command, prints a summary.

Library code raises `UserError` for mistakes a user can fix; `XganGroup` turns those into a one-line
message and exit code 2, here and nowhere else.
"""

import logging
import sys
from pathlib import Path

import click

from . import __version__
from .errors import UserError

DATA_HELP = "Dataset: a class-per-folder directory, a manifest.csv or a MedMNIST .npz [default: the bundled covid_ccby set]."


class UserErrorExit(click.ClickException):
    """A UserError shown as one line, exit code 2."""

    exit_code = 2


class XganGroup(click.Group):
    """A click group that turns library `UserError`s into one-line messages."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as error:
            raise UserErrorExit(str(error)) from None


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("xgan")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False


@click.group(cls=XganGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="xgan")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details to stderr.")
def cli(verbose):
    """Fight class imbalance in chest X-ray datasets with GAN images, and measure honestly whether it helps."""
    _configure_logging(verbose)


data_argument = click.argument("data", required=False, type=click.Path(exists=True, path_type=Path))
splits_option = click.option("--splits", "splits_file", type=click.Path(dir_okay=False, path_type=Path),
                             help="splits.json to use or create [default: beside the dataset].")
split_seed_option = click.option("--split-seed", type=int, default=None,
                                 help="Seed of the train/val/test split when it is first made [default: 0].")


@cli.command()
@data_argument
@splits_option
@split_seed_option
@click.option("--seed", type=int, default=0, help="Unused by info; accepted so every command takes --seed.", hidden=True)
def info(data, splits_file, split_seed, seed):
    """Show class counts, imbalance, image sizes and split sizes of DATA.

    DATA is a class-per-folder directory, a manifest.csv or a MedMNIST .npz (default: the bundled
    covid_ccby set). The train/val/test split is made and saved the first time.
    """
    from .summary import dataset_summary

    click.echo(dataset_summary(data, splits_file, split_seed))


@cli.command()
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None, help=DATA_HELP)
@click.option("--synthetic", "synthetic", multiple=True, type=click.Path(path_type=Path),
              help="Synthetic folder written by `xgan sample` (PNGs + manifest.csv); repeat for several. Needed for --method gan.")
@click.option("--ratio", default="auto",
              help='Target: minority/majority after balancing ("0.5", "1:2"), counts per class ("covid=300,normal=413"), or "auto" (every class up to the majority).')
@click.option("--method", type=click.Choice(["gan", "oversample"]), default="gan",
              help="gan: add synthetic images; oversample: repeat real minority training images (the baseline arm).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Training manifest CSV to write [default: samples/balanced/<dataset>-<method>-<ratio>-seed<seed>.csv].")
@click.option("--dry-run", is_flag=True, help="Print the summary, write nothing.")
@click.option("--copy", is_flag=True, help="Copy the chosen synthetic PNGs beside the manifest instead of referencing them.")
@click.option("--overwrite", is_flag=True, help="Replace an existing training manifest.")
@click.option("--seed", type=click.IntRange(min=0), default=0, help="Seed of which synthetic (or repeated) images are chosen.")
@splits_option
def balance(data, synthetic, ratio, method, out, dry_run, copy, overwrite, seed, splits_file):
    """Write a training manifest: the real training split plus images that bring each class to a target.

    Validation and test images are never in the manifest and never receive a synthetic image; a
    synthetic folder whose GAN read any of them is refused. Images are referenced, not copied,
    unless --copy is given.
    """
    from .balance.command import BalanceConfig, run_balance

    config = BalanceConfig(data=data, synthetic=tuple(synthetic), ratio=ratio, method=method, out=out, dry_run=dry_run,
                           copy=copy, overwrite=overwrite, seed=seed, splits=splits_file)
    click.echo(run_balance(config).summary)


@cli.command()
@click.option("--run", "run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="GAN run folder: sample from it; its dataset, class and training_keys.json define the real reference.")
@click.option("--synthetic", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of generated PNGs (e.g. from `xgan sample`) to assess instead of sampling from --run.")
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None,
              help="Dataset of the real images [default: the run's, else the synthetic manifest's, else the bundled covid_ccby set].")
@splits_option
@click.option("--class", "class_name", default=None, help="Class to compare with [default: the run's class or the synthetic manifest's label].")
@click.option("--checkpoint", default=None, help="Generator checkpoint to sample from [default: the latest].")
@click.option("--checkpoints", default=None,
              help='Score these checkpoints by KID and recommend one instead of a full report: "all" or "name1,name2".')
@click.option("--num-images", type=click.IntRange(min=10), default=500, help="Images to sample from the generator (per checkpoint).")
@click.option("--features", multiple=True, type=click.Choice(["classifier", "pixels", "inception"]),
              default=("classifier", "pixels"),
              help="Feature spaces (repeat the option): the project's classifier trained on real images, shrunk pixels, or InceptionV3 (needs --inception-weights).")
@click.option("--features-model", type=click.Path(exists=True, path_type=Path), default=None,
              help="A saved classifier (run folder or model.keras) for the classifier features, instead of training one.")
@click.option("--features-epochs", type=click.IntRange(min=1), default=15, help="Epochs of the feature classifier trained on the real training split.")
@click.option("--inception-weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Local InceptionV3 no-top weights file (.h5): adds the inception features. Nothing is ever downloaded.")
@click.option("--inception-size", type=click.IntRange(min=75), default=299, help="InceptionV3 input side in pixels.")
@click.option("--copy-threshold", type=click.FloatRange(0, 1, min_open=True), default=0.95,
              help="Pixel correlation with a training image at or above which a synthetic image counts as a near copy.")
@click.option("--neighbours", type=click.IntRange(min=1), default=3, help="k of the k-NN manifolds of precision/recall.")
@click.option("--kid-subsets", type=click.IntRange(min=1), default=100, help="Random subsets KID is averaged over.")
@click.option("--kid-subset-size", type=click.IntRange(min=2), default=1000, help="Most images per KID subset.")
@click.option("--folds", "num_folds", type=click.IntRange(min=2), default=5, help="Cross-validation folds of the two-sample test.")
@click.option("--num-pairs", type=click.IntRange(min=1), default=8, help="Closest synthetic/training pairs in the figure.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder [default: <run>/quality or <synthetic>/quality].")
@click.option("--overwrite", is_flag=True, help="Replace an existing report in the report folder.")
@click.option("--seed", type=int, default=0, help="Seed of the latents, KID subsets, folds and feature classifier.")
def quality(run_dir, synthetic, data, splits_file, class_name, checkpoint, checkpoints, num_images, features,
            features_model, features_epochs, inception_weights, inception_size, copy_threshold, neighbours,
            kid_subsets, kid_subset_size, num_folds, num_pairs, out, overwrite, seed):
    """Measure how real, diverse and private synthetic X-rays are; write quality.json, quality.md and figures.

    Compares synthetic images (sampled from --run, or a --synthetic folder) with the real training
    images of their class: KID and a (biased) Fréchet distance, precision/recall, a classifier
    two-sample test, and memorization (the nearest training image of every synthetic image, with a
    warning for near copies). With --checkpoints, scores the run's checkpoints by KID instead and
    prints the `xgan sample` command for the best.
    """
    from .quality import QualityConfig, run_quality

    try:
        config = QualityConfig(
            run=run_dir and str(run_dir), synthetic=synthetic and str(synthetic), data=data and str(data),
            splits=splits_file and str(splits_file), class_name=class_name, checkpoint=checkpoint,
            checkpoints=checkpoints, num_images=num_images, features=tuple(features),
            features_model=features_model and str(features_model), features_epochs=features_epochs,
            inception_weights=inception_weights and str(inception_weights), inception_size=inception_size,
            copy_threshold=copy_threshold, neighbours=neighbours, kid_subsets=kid_subsets,
            kid_subset_size=kid_subset_size, num_folds=num_folds, num_pairs=num_pairs, out=out and str(out),
            overwrite=overwrite, seed=seed)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    outcome = run_quality(config)
    click.echo("\n".join(outcome.summary))
    for warning in outcome.warnings:
        click.secho(f"WARNING: {warning}", fg="yellow", err=True)


@cli.command()
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None, help=DATA_HELP)
@splits_option
@click.option("--with-gan", is_flag=True, help="Train on the GAN-balanced training set (--synthetic folders or a --manifest).")
@click.option("--synthetic", multiple=True, type=click.Path(path_type=Path),
              help="Synthetic folder written by `xgan sample`; repeat for several. Balanced to --ratio.")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Training manifest written by `xgan balance`, instead of --synthetic.")
@click.option("--ratio", default="auto", help='Balancing target of the GAN and oversampling arms: "auto", "0.5", "1:2" or "covid=300".')
@click.option("--compare", is_flag=True,
              help="Run every arm (baseline, classic augmentation, oversampling, class weights, and GAN when synthetic images are given) over --seeds seeds and write report.md.")
@click.option("--seeds", type=click.IntRange(min=1), default=3, help="Seeds per arm with --compare: --seed, --seed+1, ...")
@click.option("--size", type=click.IntRange(min=8), default=None,
              help="Image side in pixels [default: 64, the GAN's; an .npz's own size when smaller, 28 for PneumoniaMNIST].")
@click.option("--epochs", type=click.IntRange(min=1), default=30, help="Most epochs per model; early stopping on the validation split usually ends sooner.")
@click.option("--patience", type=click.IntRange(min=0), default=8, help="Epochs without validation improvement before stopping (best weights restored).")
@click.option("--batch-size", type=click.IntRange(min=1), default=40, help="Batch size (the study's 40).")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", help="adam, or the study's sgd (momentum 5/6).")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=1e-3, help="Learning rate (the study's: 1e-4 with sgd).")
@click.option("--monitor", type=click.Choice(["val_auc", "val_loss"]), default="val_auc", help="Validation quantity that early stopping watches.")
@click.option("--positive", default=None, help="Positive class of sensitivity, precision and ROC [default: the minority class].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("samples"), help="Folder in which the numbered run folder is made.")
@click.option("--seed", type=click.IntRange(min=0), default=0, help="Training seed (the first of --seeds with --compare); also chooses synthetic and repeated images.")
def classify(data, splits_file, with_gan, synthetic, manifest, ratio, compare, seeds, size, epochs, patience, batch_size,
             optimizer, learning_rate, monitor, positive, out, seed):
    """Train the X-ray CNN on the real training split (or the GAN-balanced one) and test it on real held-out images.

    With --compare, trains every arm with the same splits and seeds and writes report.json,
    report.md and plots: mean and std per arm, and the paired difference to the baseline with a
    95% bootstrap interval and McNemar's test. Only real test-split images are ever scored.
    """
    from .classifier.classify import ClassifyConfig, classify as run_classify

    config = ClassifyConfig(data=data, splits=splits_file, with_gan=with_gan, synthetic=tuple(synthetic), manifest=manifest,
                            ratio=ratio, compare=compare, seeds=seeds, size=size, epochs=epochs, patience=patience,
                            batch_size=batch_size, optimizer=optimizer, learning_rate=learning_rate, monitor=monitor,
                            positive=positive, out=out, seed=seed)
    click.echo(run_classify(config).summary)


@cli.command()
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path), help="Classifier run folder or its model.keras.")
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Images to score, all as test data: a class-per-folder directory, a manifest.csv or an .npz (e.g. test_* keys only).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Folder for metrics.json and plots [default: samples/NNNNN-evaluate].")
@click.option("--seed", type=int, default=0, help="Unused: evaluation is deterministic; accepted so every command takes --seed.", hidden=True)
def evaluate(model_path, data, out, seed):
    """Score a saved classifier on every image of a dataset and print accuracy, sensitivity, specificity, ROC-AUC...

    Images the model trained or stopped early on are left out, with a count.
    """
    from .classifier.evaluate import evaluate_model

    click.echo(evaluate_model(model_path, data, out).summary)


@cli.command()
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path), help="Classifier run folder or its model.keras.")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=0, help="Unused: prediction is deterministic; accepted so every command takes --seed.", hidden=True)
def predict(model_path, images, seed):
    """Print the predicted class and its probability for each IMAGE."""
    from .classifier.predict import format_predictions, predict_images

    click.echo(format_predictions(predict_images(model_path, images)))


def main() -> None:
    """Entry point of the `xgan` console script."""
    cli(prog_name="xgan")


if __name__ == "__main__":
    main()
