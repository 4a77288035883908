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


def main() -> None:
    """Entry point of the `xgan` console script."""
    cli(prog_name="xgan")


if __name__ == "__main__":
    main()
