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


def main() -> None:
    """Entry point of the `xgan` console script."""
    cli(prog_name="xgan")


if __name__ == "__main__":
    main()
