"""The `xgan` command line: reads options, calls one library function per command, prints a summary.

Library code raises `UserError` for mistakes a user can fix; `XganGroup` turns those into a one-line
message and exit code 2, here and nowhere else.
"""

import dataclasses
import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import click

from . import __version__
from .classifier.backbones import BACKBONES
from .errors import UserError
from .gan.config import DDIM_KID_EVERY, DEFAULT_KID_EVERY, GAN_VARIANTS, MODELS, kid_every_default

# Every seed goes to numpy and Keras: a non-negative integer below 2**32 (numpy's legacy bound).
SEED = click.IntRange(0, 2**32 - 1)
DATA_HELP = ("Dataset: a class-per-folder directory, a manifest.csv, a MedMNIST .npz, or a bundled set by name "
             "(covid_ccby, pneumoniamnist) [default: the bundled covid_ccby set].")

EXTERNAL_HELP = ("External test set: a class-per-folder directory, a manifest.csv or an .npz (anything `xgan evaluate` reads), named by "
                 "its folder or file, or NAME=PATH; repeat for several. Every model is scored on it at its stored threshold, as "
                 "`xgan evaluate` would, and the report compares the arms there too. A set with a class the models do not know is "
                 "refused before training.")


class UserErrorExit(click.ClickException):
    """A UserError shown as one line, exit code 2."""

    exit_code = 2


class XganGroup(click.Group):
    """A click group that turns library `UserError`s, and a command's bad options, into one-line messages."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as error:
            raise UserErrorExit(str(error)) from None
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as error:
            # Click would print the usage line and a hint before the message; the message names the
            # option and what it expects, which is all a user needs (--help has the rest).
            raise UserErrorExit(error.format_message()) from None


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
    if not verbose:  # TensorFlow's start-up lines on stderr only with -v
        from .runtime.tensorflow_setup import quiet_tensorflow_startup

        quiet_tensorflow_startup()


class DataSource(click.ParamType):
    """A dataset path that exists, or the name of a bundled dataset (read as its path)."""

    name = "DATA"

    def convert(self, value, param, ctx):
        if isinstance(value, Path):
            return value
        from .datasets.dataset import BUNDLED_DATASETS, resolve_source

        if not Path(value).exists() and value not in BUNDLED_DATASETS:
            self.fail(f"{value!r}: no such file or folder, and not a bundled dataset ({', '.join(BUNDLED_DATASETS)})", param, ctx)
        return resolve_source(value)


class PositiveIntList(click.ParamType):
    """Comma-separated positive integers, e.g. "60,120,240"."""

    name = "N[,N...]"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            numbers = tuple(int(part) for part in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r}: expected positive integers separated by commas, such as 60,120,240", param, ctx)
        if any(n < 1 for n in numbers) or len(set(numbers)) != len(numbers):
            self.fail(f"{value!r}: expected distinct positive integers separated by commas, such as 60,120,240", param, ctx)
        return numbers


class LazyOption(click.Option):
    """An option whose default, shown default or help is read from the library only when needed (parsing the command
    line, or --help), so that the CLI copies none of them by hand and each command imports its own modules alone.

    Args:
        field: (module under xgan, dataclass name, field name): the option's default is that field's default.
        show_only: with `field`, the option's own default stays None (the library fills it in, e.g. a resumed run's own
            value) and --help shows the field's.
        shown: a function returning the text --help shows as the default (for defaults that depend on other options).
        help_text: a function returning the option's help (for help that lists what a registry holds).
    """

    def __init__(self, *args, field: tuple[str, str, str] | None = None, show_only: bool = False,
                 shown: Callable[[], str] | None = None, help_text: Callable[[], str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.config_field, self.show_only, self.shown, self.help_text = field, show_only, shown, help_text

    def field_default(self):
        module, class_name, name = self.config_field
        field = next(f for f in dataclasses.fields(_library(module, class_name)) if f.name == name)
        return field.default_factory() if field.default is dataclasses.MISSING else field.default

    def get_default(self, ctx, call=True):
        if self.config_field is None or self.show_only:
            return super().get_default(ctx, call)
        return self.field_default()

    def get_help_extra(self, ctx):
        if self.shown is not None:
            self.show_default = self.shown()
        elif self.show_only:
            self.show_default = str(self.field_default())
        return super().get_help_extra(ctx)

    def get_help_record(self, ctx):
        if self.help_text is not None:
            self.help = self.help_text()
        return super().get_help_record(ctx)


def _library(module: str, name: str):
    """`name` from the xgan module `module`, imported when first asked for."""
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def _short(number: float) -> str:
    """A learning rate as the help writes it: 1e-3, 1e-6, 0."""
    return "0" if number == 0 else f"{number:.0e}".replace("e-0", "e-")


BALANCE = ("balance.command", "BalanceConfig")
QUALITY = ("quality.config", "QualityConfig")
CLASSIFY = ("classifier.classify_config", "ClassifyConfig")
GAN = ("gan.config", "GanConfig")
STUDY = ("study.config", "StudyConfig")


def _presets_help() -> str:
    """--preset's help, with the presets' own GAN and classifier epochs (`study.config.PRESETS`)."""
    quick, paper = _library("study.config", "PRESETS")["quick"], _library("study.config", "PRESETS")["paper"]
    return (f"quick: under 10 min on 2 CPU cores (GAN width {quick['gan_width']}, {quick['gan_epochs']} epochs; classifier "
            f"{quick['classifier_epochs']}); paper: the study's {paper['gan_epochs']} GAN and {paper['classifier_epochs']} classifier epochs.")


def _optimizer_default(optimizer: str, name: str) -> float:
    """The classifier optimizer's own default learning rate or decay (`classifier.config.optimizer_defaults`)."""
    return _library("classifier.config", "optimizer_defaults")(optimizer)[name]


def _family_default(field: str) -> dict:
    """click.option keywords for a GanConfig option whose default depends on --model (None: the family's, shown in the help)."""
    def shown() -> str:
        defaults = _library("gan.config", "MODEL_DEFAULTS")
        return "; ".join(f"{defaults[model][field]!r} with {model}" if isinstance(defaults[model][field], str)
                         else f"{defaults[model][field]:g} with {model}" for model in defaults)

    return {"cls": LazyOption, "default": None, "shown": shown}


def default_from(config: tuple[str, str], field: str, show_only: bool = False) -> dict:
    """click.option keywords that take the option's default from `config`'s `field` (see LazyOption)."""
    return {"cls": LazyOption, "field": (*config, field), "show_only": show_only}


class ImageSizeOrAuto(click.ParamType):
    """An image side in pixels (at least 8), or "auto"."""

    name = "PX|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "auto":
            return value
        try:
            size = int(value)
        except ValueError:
            self.fail(f"{value!r}: expected a whole number of pixels, such as 64, or auto", param, ctx)
        if size < 8:
            self.fail(f"{value!r}: expected at least 8 pixels, or auto", param, ctx)
        return size


DATA = DataSource()


def backbone_option(config: tuple[str, str]):
    """--backbone of a command whose config is `config`."""
    return click.option(
        "--backbone", type=click.Choice(BACKBONES), **default_from(config, "backbone"),
        help="Network of every model: cnn (the study's CNN) or a keras.applications family trained on gray films as three equal "
             "channels, its own preprocessing inside the saved model (at least 32 px).")


def weights_option(config: tuple[str, str]):
    """--weights of a command whose config is `config`."""
    return click.option(
        "--weights", **default_from(config, "weights"), metavar="imagenet|none|FILE",
        help="Starting weights of a --backbone family: none (from scratch), imagenet (downloaded through Keras; needs network "
             "access), or a .h5 weights file of that family without its classification top.")


freeze_epochs_option = click.option(
    "--freeze-epochs", type=click.IntRange(min=0), default=None, show_default="3 with pretrained weights, else 0",
    help="Pretrained weights: epochs of the new head alone, backbone frozen (batch norm in inference mode), before the whole "
         "network trains at a tenth of the learning rate for --epochs.")


STRATEGY_HELP = ("tf.distribute strategy: default (one device), mirrored (every GPU of this machine) or multi-worker "
                 "(the machines of TF_CONFIG; run the same command on each; the first worker writes the run folder). "
                 "--batch-size is global; the learning rate is not scaled.")
PRECISION_HELP = ("float32, or mixed: layers compute in float16 with float32 weights, losses and outputs, and losses are scaled "
                  "against underflow. Faster on GPUs with tensor cores; slower on a CPU. Kept by --resume.")


def strategy_option(config: tuple[str, str]):
    """--strategy of a command whose config is `config`."""
    return click.option("--strategy", type=click.Choice(["default", "mirrored", "multi-worker"]), **default_from(config, "strategy"),
                        help=STRATEGY_HELP)


def precision_option(config: tuple[str, str]):
    """--precision of a command whose config is `config`."""
    return click.option("--precision", type=click.Choice(["float32", "mixed"]), **default_from(config, "precision"), help=PRECISION_HELP)


workers_option = click.option(
    "--workers", type=click.IntRange(min=1), default=None,
    help="Models (and a study's stages) trained side by side, each in a process of its own with cores / workers threads "
         "[default: one per core, or $XGAN_WORKERS]; 1: one after another in this process. A model's numbers depend on its "
         "thread count: the same with any workers of the same threads.")
data_argument = click.argument("data", required=False, type=DATA)
splits_option = click.option("--splits", "splits_file", type=click.Path(dir_okay=False, path_type=Path),
                             help="splits.json to use or create [default: beside the dataset].")
split_seed_option = click.option("--split-seed", type=SEED, default=None,
                                 help="Seed of the train/val/test split when it is first made [default: 0].")


@cli.command()
@data_argument
@splits_option
@split_seed_option
@click.option("--minority-train", type=click.IntRange(min=1), default=None,
              help="Cut the training images of the minority (or --class) to N, seeded by --seed, whole patients only; "
                   "validation and test stay untouched. The cut splits are saved to --splits [default: beside the dataset's "
                   "splits]; pass that file as --splits to the other commands.")
@click.option("--class", "class_name", default=None, help="Class that --minority-train cuts [default: the one with the fewest training images].")
@click.option("--seed", type=SEED, default=0, help="Seed of the --minority-train cut (otherwise unused by info).")
def info(data, splits_file, split_seed, minority_train, class_name, seed):
    """Show class counts, imbalance, image sizes and split sizes of DATA.

    DATA is a class-per-folder directory, a manifest.csv, a MedMNIST .npz or a bundled set by name
    (covid_ccby, pneumoniamnist); default: the bundled covid_ccby set. The train/val/test split is
    made and saved the first time.
    """
    from .datasets.summary import dataset_summary

    if class_name is not None and minority_train is None:
        raise click.UsageError("--class goes with --minority-train (the class to cut)")
    click.echo(dataset_summary(data, splits_file, split_seed, minority_train, class_name, seed))


@cli.command()
@click.option("--data", type=DATA, default=None, help=DATA_HELP)
@click.option("--synthetic", "synthetic", multiple=True, type=click.Path(path_type=Path),
              help="Synthetic folder written by `xgan sample` (PNGs + manifest.csv); repeat for several. Needed for --method gan.")
@click.option("--ratio", **default_from(BALANCE, "ratio"),
              help='Target: minority/majority after balancing ("0.5", "1:2"), counts per class ("covid=300,normal=413"), or "auto" (every class up to the majority).')
@click.option("--method", type=click.Choice(["gan", "oversample"]), **default_from(BALANCE, "method"),
              help="gan: add synthetic images; oversample: repeat real minority training images (the baseline arm).")
@click.option("--mix", type=click.Choice(["fill", "equal"]), **default_from(BALANCE, "mix"),
              help="fill: synthetic images go to the classes below the target; equal: every class gets the same synthetic share "
                   "(synthetic folders of every class needed), so looking generated predicts no label.")
@click.option("--synthetic-share", type=click.FloatRange(0, 1, min_open=True), default=None, cls=LazyOption,
              shown=lambda: f"no cap; {_library('balance', 'DEFAULT_EQUAL_SHARE')} with --mix equal",
              help="fill: the most synthetic share of a class after balancing, the rest repeating its real images; equal: the share of every class.")
@click.option("--curate", type=click.Path(exists=True, path_type=Path), default=None, metavar="MODEL",
              help="Curate: a classifier trained on real images only (a run folder of `xgan classify`, e.g. a baseline seed) scores every "
                   "synthetic image, and each class takes the ones it gives the highest probability of their class, not a random choice.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Training manifest CSV to write [default: samples/balanced/<dataset>-<method>-<ratio>-seed<seed>.csv].")
@click.option("--dry-run", is_flag=True, help="Print the summary, write nothing.")
@click.option("--copy", is_flag=True, help="Copy the chosen synthetic PNGs beside the manifest instead of referencing them.")
@click.option("--overwrite", is_flag=True, help="Replace an existing training manifest.")
@click.option("--seed", type=SEED, **default_from(BALANCE, "seed"), help="Seed of which synthetic (or repeated) images are chosen.")
@splits_option
def balance(data, synthetic, ratio, method, mix, synthetic_share, curate, out, dry_run, copy, overwrite, seed, splits_file):
    """Write a training manifest: the real training split plus images that bring each class to a target.

    Validation and test images are never in the manifest and never receive a synthetic image; a
    synthetic folder whose GAN read any of them is refused. Images are referenced, not copied,
    unless --copy is given.
    """
    from .balance.command import BalanceConfig, run_balance
    from .classifier.curate import curation_scorer

    config = BalanceConfig(data=data, synthetic=tuple(synthetic), ratio=ratio, method=method, out=out, dry_run=dry_run,
                           copy=copy, overwrite=overwrite, seed=seed, splits=splits_file, mix=mix, synthetic_share=synthetic_share,
                           curate=curate)
    # With --curate, the classifier saved there scores every synthetic image (balance imports no classifier).
    click.echo(run_balance(config, curation_scorer(config.curate, config.synthetic)).summary)


@cli.command()
@click.option("--run", "run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="GAN run folder: sample from it; its dataset, class and training keys (the real images it read) define the real reference.")
@click.option("--synthetic", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of generated PNGs (e.g. from `xgan sample`) to assess instead of sampling from --run.")
@click.option("--data", type=DATA, default=None,
              help="Dataset of the real images [default: the run's, else the synthetic manifest's, else the bundled covid_ccby set].")
@splits_option
@click.option("--class", "class_name", default=None, help="Class to compare with [default: the run's class or the synthetic manifest's label].")
@click.option("--checkpoint", default=None, help="Generator checkpoint to sample from [default: the latest].")
@click.option("--checkpoints", default=None,
              help='Score these checkpoints by KID and recommend one instead of a full report: "all" or "name1,name2".')
@click.option("--num-images", type=click.IntRange(min=10), **default_from(QUALITY, "num_images"), help="Images to sample from the generator (per checkpoint).")
@click.option("--features", multiple=True, type=click.Choice(["classifier", "pixels", "inception"]),
              **default_from(QUALITY, "features"),
              help="Feature spaces (repeat the option): the project's classifier trained on real images, shrunk pixels, or InceptionV3 (needs --inception-weights).")
@click.option("--features-model", type=click.Path(exists=True, path_type=Path), default=None,
              help="A saved classifier (run folder or model.keras) for the classifier features, instead of training one.")
@click.option("--features-epochs", type=click.IntRange(min=1), **default_from(QUALITY, "features_epochs"), help="Epochs of the feature classifier trained on the real training split.")
@click.option("--inception-weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Local InceptionV3 no-top weights file (.h5): adds the inception features. Nothing is ever downloaded.")
@click.option("--inception-size", type=click.IntRange(min=75), **default_from(QUALITY, "inception_size"), help="InceptionV3 input side in pixels.")
@click.option("--copy-threshold", type=click.FloatRange(0, 1, min_open=True), **default_from(QUALITY, "copy_threshold"),
              help="Pixel correlation with a training image at or above which a synthetic image counts as a near copy.")
@click.option("--neighbours", type=click.IntRange(min=1), **default_from(QUALITY, "neighbours"), help="k of the k-NN manifolds of precision/recall.")
@click.option("--kid-subsets", type=click.IntRange(min=1), **default_from(QUALITY, "kid_subsets"), help="Random subsets KID is averaged over.")
@click.option("--kid-subset-size", type=click.IntRange(min=2), **default_from(QUALITY, "kid_subset_size"), help="Most images per KID subset.")
@click.option("--folds", "num_folds", type=click.IntRange(min=2), **default_from(QUALITY, "num_folds"), help="Cross-validation folds of the two-sample test.")
@click.option("--num-pairs", type=click.IntRange(min=1), **default_from(QUALITY, "num_pairs"), help="Closest synthetic/training pairs in the figure.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder [default: <run>/quality or <synthetic>/quality].")
@click.option("--overwrite", is_flag=True, help="Replace an existing report in the report folder.")
@click.option("--seed", type=SEED, **default_from(QUALITY, "seed"), help="Seed of the latents, KID subsets, folds and feature classifier.")
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

    config = QualityConfig(
        run=run_dir and str(run_dir), synthetic=synthetic and str(synthetic), data=data and str(data),
        splits=splits_file and str(splits_file), class_name=class_name, checkpoint=checkpoint,
        checkpoints=checkpoints, num_images=num_images, features=tuple(features),
        features_model=features_model and str(features_model), features_epochs=features_epochs,
        inception_weights=inception_weights and str(inception_weights), inception_size=inception_size,
        copy_threshold=copy_threshold, neighbours=neighbours, kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size, num_folds=num_folds, num_pairs=num_pairs, out=out and str(out),
        overwrite=overwrite, seed=seed)
    outcome = run_quality(config)
    click.echo("\n".join(outcome.summary))
    for warning in outcome.warnings:
        click.secho(f"WARNING: {warning}", fg="yellow", err=True)


@cli.command()
@click.option("--data", type=DATA, default=None, help=DATA_HELP)
@splits_option
@click.option("--with-gan", is_flag=True, help="Train on the GAN-balanced training set (--synthetic folders or a --manifest).")
@click.option("--synthetic", multiple=True, type=click.Path(path_type=Path),
              help="Synthetic folder written by `xgan sample`; repeat for several. Balanced to --ratio.")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Training manifest written by `xgan balance`, instead of --synthetic.")
@click.option("--ratio", **default_from(CLASSIFY, "ratio"), help='Balancing target of the GAN and oversampling arms: "auto", "0.5", "1:2" or "covid=300".')
@click.option("--compare", is_flag=True,
              help="Run every arm (baseline, classic augmentation, oversampling, class weights, and GAN when synthetic images are given) over --seeds seeds and write report.md.")
@click.option("--seeds", type=click.IntRange(min=1), default=None, show_default="3 with --compare, else 1",
              help="Seeds per arm: --seed, --seed+1, ...; several make a seed ensemble (probabilities averaged), scored beside each seed.")
@click.option("--arms", "arm_names", cls=LazyOption, default=None, metavar="ARM[,ARM...]",
              help_text=lambda: "With --compare, train only these arms (the baseline always): " + ", ".join(_library("classifier.arms", "ARMS"))
                                + " [default: every arm the inputs allow].")
@click.option("--synthetic-cap", type=click.FloatRange(0, 1, min_open=True, max_open=True), **default_from(CLASSIFY, "synthetic_cap"),
              help="gan_capped arm: the most synthetic share of a class; the rest of its gap repeats its real images.")
@click.option("--equal-share", type=click.FloatRange(0, 1, min_open=True, max_open=True), **default_from(CLASSIFY, "equal_share"),
              help="gan_equal and gan_curated arms: the synthetic share of every class (the synthetic folders must hold every class).")
@click.option("--size", type=ImageSizeOrAuto(), default="auto",
              help="Image side in pixels; auto: 64, the GAN's, or an .npz's own size when smaller (28 for PneumoniaMNIST), "
                   "raised to the --backbone's smallest (32 for the keras.applications families).")
@click.option("--epochs", type=click.IntRange(min=1), **default_from(CLASSIFY, "epochs"), help="Most epochs per model; early stopping on the validation split usually ends sooner.")
@click.option("--patience", type=click.IntRange(min=0), **default_from(CLASSIFY, "patience"), help="Epochs without validation improvement before stopping (best weights restored).")
@click.option("--batch-size", type=click.IntRange(min=1), **default_from(CLASSIFY, "batch_size"), help="Batch size (the study's 40).")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), **default_from(CLASSIFY, "optimizer"),
              help="adam, or the study's sgd (momentum 5/6; with its learning rate 1e-4 and decay 1e-6 unless given).")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None, cls=LazyOption,
              shown=lambda: " ".join(f"{_short(_optimizer_default(name, 'learning_rate'))} with {name}," for name in ("adam", "sgd"))[:-1],
              help="Learning rate.")
@click.option("--lr-decay", type=click.FloatRange(min=0), default=None, cls=LazyOption,
              shown=lambda: " ".join(f"{_short(_optimizer_default(name, 'lr_decay'))} with {name}," for name in ("adam", "sgd"))[:-1],
              help="Inverse time decay per step, lr / (1 + decay * step), as Keras' old `decay` argument.")
@click.option("--monitor", type=click.Choice(["val_auc", "val_loss"]), **default_from(CLASSIFY, "monitor"), help="Validation quantity that early stopping watches (ties broken on val_loss).")
@click.option("--target-sensitivity", type=click.FloatRange(min=0, max=1, min_open=True), default=None, show_default="Youden's J",
              help="Decision threshold: the highest whose validation sensitivity reaches this, instead of the one maximizing Youden's J on the validation split. Stored with the model.")
@click.option("--tta", is_flag=True, help="Score the test split with test-time augmentation (shifts, zoom, contrast; no flips), the threshold chosen the same way.")
@click.option("--positive", default=None, help="Positive class of sensitivity, precision and ROC [default: the minority class].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), **default_from(CLASSIFY, "out"), help="Folder in which the numbered run folder is made.")
@click.option("--seed", type=SEED, **default_from(CLASSIFY, "seed"), help="Training seed (the first of --seeds); also chooses synthetic and repeated images.")
@click.option("--tensorboard", is_flag=True, default=False, help="Also write TensorBoard logs (training and validation scalars) to each model's tensorboard/ folder.")
@strategy_option(CLASSIFY)
@precision_option(CLASSIFY)
@click.option("--external", multiple=True, metavar="[NAME=]DATA", help="With --compare or --seeds N: " + EXTERNAL_HELP)
@backbone_option(CLASSIFY)
@weights_option(CLASSIFY)
@freeze_epochs_option
@click.option("--shift-suite/--no-shift-suite", **default_from(CLASSIFY, "shift_suite"), show_default=True,
              help="With --compare: also score every model on corrupted copies of the test split (noise, blur, JPEG, lower "
                   "resolution, brightness, contrast, gamma, rotation, shift, zoom): a robustness proxy, not an external validation.")
@workers_option
@click.option("--resume", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Finish this interrupted run folder, given the options it was made with (--workers may differ): its finished "
                   "models are read back, the others continue from the end of their last epoch.")
def classify(data, splits_file, with_gan, synthetic, manifest, ratio, compare, seeds, arm_names, synthetic_cap, equal_share, size, epochs,
             patience, batch_size, optimizer, learning_rate, lr_decay, monitor, target_sensitivity, tta, positive, out, seed, tensorboard, strategy,
             precision, external, backbone, weights, freeze_epochs, shift_suite, workers, resume):
    """Train the X-ray CNN on the real training split (or the GAN-balanced one) and test it on real held-out images.

    With --compare, trains every arm with the same splits and seeds and writes report.json,
    report.md and plots: mean and std per arm, each arm's seed ensemble, and the paired difference
    to the baseline with a 95% bootstrap interval and McNemar's test; balanced accuracy is the primary
    metric (its verdicts Holm-adjusted), with calibration (ECE, Brier score, reliability diagrams) and a
    shift suite of corrupted test copies. Every model calls images at a threshold chosen on the validation
    split (reported beside 0.5). Only real test-split images are ever scored.
    """
    from .classifier.classify import ClassifyConfig, classify as run_classify

    config = ClassifyConfig(data=data, splits=splits_file, with_gan=with_gan, synthetic=tuple(synthetic), manifest=manifest,
                            ratio=ratio, compare=compare, seeds=seeds, size=size, epochs=epochs, patience=patience,
                            batch_size=batch_size, optimizer=optimizer, learning_rate=learning_rate, lr_decay=lr_decay, monitor=monitor,
                            target_sensitivity=target_sensitivity, tta=tta, positive=positive, out=out, seed=seed, tensorboard=tensorboard,
                            arm_names=tuple(a.strip() for a in arm_names.split(",") if a.strip()) if arm_names else (),
                            synthetic_cap=synthetic_cap, equal_share=equal_share, strategy=strategy, precision=precision,
                            external=tuple(external), backbone=backbone, weights=weights, freeze_epochs=freeze_epochs,
                            shift_suite=shift_suite, workers=workers)
    try:
        result = run_classify(config, resume=resume)
    except KeyboardInterrupt as interrupt:
        folder = getattr(interrupt, "run_folder", None)
        if folder is None:  # before the run folder existed: nothing to resume
            raise
        raise UserError(f"interrupted; resume with `xgan classify --resume {folder}` and the options of the run "
                        "(finished models are read back, the others continue from their last epoch)") from None
    click.echo(result.summary)


MODEL_HELP = ("Classifier run folder or its model.keras; a folder of seeds (xgan classify --seeds N) or a comparison's arms/<arm> "
              "folder is its seed ensemble. Repeat for an ensemble of several: probabilities averaged, threshold chosen on validation.")
TTA_HELP = "Test-time augmentation: average each model over shifted, zoomed and contrast-changed copies (no flips)."


@cli.command()
@click.option("--model", "model_path", required=True, multiple=True, type=click.Path(path_type=Path), help=MODEL_HELP)
@click.option("--tta", is_flag=True, help=TTA_HELP)
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Images to score, all as test data: a class-per-folder directory, a manifest.csv or an .npz (e.g. test_* keys only).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Folder for metrics.json and plots [default: samples/NNNNN-evaluate].")
@click.option("--threshold-record", default=None, metavar="NAME",
              help="Call images at this threshold record (written by `xgan calibrate --name`) instead of the one chosen on the "
                   "model's validation split; the record's own slice is left out [default: validation].")
@click.option("--seed", type=SEED, default=0, help="Unused: evaluation is deterministic; accepted so every command takes --seed.", hidden=True)
def evaluate(model_path, tta, data, out, threshold_record, seed):
    """Score a saved classifier (or an ensemble) on every image of a dataset and print accuracy, sensitivity, specificity, ROC-AUC...

    Images a model trained or stopped early on are left out, with a count. Images are called at the
    threshold stored with the model (chosen on its validation split); metrics at 0.5 are shown beside.
    """
    from .classifier.evaluate import evaluate_model

    click.echo(evaluate_model(list(model_path), data, out, tta=tta, threshold_record=threshold_record).summary)


@cli.command()
@click.option("--model", "model_path", required=True, multiple=True, type=click.Path(path_type=Path), help=MODEL_HELP)
@click.option("--tta", is_flag=True, help=TTA_HELP)
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--threshold-record", default=None, metavar="NAME",
              help="Call images at this threshold record (written by `xgan calibrate --name`) [default: validation].")
@click.option("--seed", type=SEED, default=0, help="Unused: prediction is deterministic; accepted so every command takes --seed.", hidden=True)
def predict(model_path, tta, images, threshold_record, seed):
    """Print the predicted class and its probability for each IMAGE, called at the model's stored threshold (and which one)."""
    from .classifier.predict import format_predictions, predict_images

    click.echo(format_predictions(predict_images(list(model_path), images, tta=tta, threshold_record=threshold_record)))


@cli.command()
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path),
              help="Classifier run folder or its model.keras (one model; a comparison's arms/<arm>/seed<k>).")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the overlays and explain.json [default: samples/NNNNN-explain].")
@click.option("--overwrite", is_flag=True, help="Replace overlays already in --out (refused otherwise).")
def explain(model_path, images, out, overwrite):
    """Write a Grad-CAM overlay (IMAGE_gradcam.png) of the called class for each IMAGE, with its border share.

    The map is the gradient-weighted last convolution block; a binary model's called class is the one at its stored
    threshold, a multi-class model's the most probable. The border share (the map's mass in the outer 10% of the image;
    0.36 for an even map) flags a model that reads markers or text at the film's edge.
    """
    from .classifier.explain import explain_images

    click.echo(explain_images(model_path, images, out, overwrite=overwrite).summary)


@cli.command()
@click.option("--model", "model_path", required=True, multiple=True, type=click.Path(path_type=Path), help=MODEL_HELP)
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path),
              help="The new site's labelled slice: a class-per-folder directory, a manifest.csv or an .npz, with images of both classes.")
@click.option("--name", required=True, help="Name of the new threshold record (e.g. the site's): thresholds/NAME.json beside the model.")
@click.option("--target-sensitivity", type=click.FloatRange(min=0, max=1, min_open=True), default=None,
              show_default="the rule of the model's validation threshold",
              help="Choose the highest threshold reaching this sensitivity on the slice, instead of Youden's J.")
@click.option("--tta", is_flag=True, help="Calibrate the threshold of predictions with test-time augmentation.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier record of the same name (the validation record is never replaced).")
def calibrate(model_path, data, name, target_sensitivity, tta, overwrite):
    """Re-choose a saved classifier's threshold on a small labelled slice from a new site, without retraining.

    The new threshold is stored as a record beside the old one (the model's config.json is never changed);
    `xgan evaluate` and `xgan predict` use it with --threshold-record NAME and say which record they used.
    """
    from .classifier.calibrate import calibrate_model

    click.echo(calibrate_model(list(model_path), data, name, target_sensitivity=target_sensitivity, tta=tta, overwrite=overwrite).summary)


@cli.command()
@click.option("--data", type=DATA, default=None, help=DATA_HELP)
@click.option("--class", "class_name", default=None, help="Class to generate [default: the class with the fewest training images].")
@click.option("--conditional", is_flag=True, default=False,
              help="Train one class-conditional GAN on every class of the training split (class embedding, projection discriminator) instead of one class.")
@splits_option
@split_seed_option
@click.option("--size", "image_size", type=click.Choice([32, 64, 128]), **default_from(GAN, "image_size"), help="Image side in pixels (one gray channel).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, **default_from(GAN, "epochs", show_only=True),
              help="Epochs (passes over the class's training images; at least one step each); with --resume, the run's own unless given.")
@click.option("--kimg", type=click.FloatRange(min=0, min_open=True), default=None, help="Train for this many thousand real images instead of --epochs.")
@click.option("--batch-size", type=click.IntRange(min=2), **default_from(GAN, "batch_size"), help="Images per step (the study's 32; batch norm needs two).")
@click.option("--model", type=click.Choice(list(MODELS)), **default_from(GAN, "model"),
              help="Generator family: the card's DCGAN, or ddim, a small denoising diffusion model (residual U-Net) drawn by DDIM "
                   "in --sampling-steps network calls an image: no discriminator, so the adversarial options do not apply; "
                   "its own defaults for --learning-rate, --beta-1, --width, --augment and --ema-kimg.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), **_family_default("learning_rate"),
              help="Learning rate: Adam's of both networks (AdamW's for ddim).")
@click.option("--beta-1", type=click.FloatRange(0, 1, max_open=True), **_family_default("beta_1"), help="Adam's beta_1.")
@click.option("--latent-dim", type=click.IntRange(min=1), default=None, cls=LazyOption,
              shown=lambda: f"{_library('gan.config', 'DCGAN_LATENT_DIM')}; the pixel count with --model ddim",
              help="Length of the generator's input vector (ddim: its starting noise, one value per pixel).")
@click.option("--width", type=click.IntRange(min=1), **_family_default("width"),
              help="Channels of the DCGAN generator's last hidden layer, doubled per layer towards 4x4; ddim: of the U-Net's first level.")
@click.option("--augment", **_family_default("augment"),
              help='DiffAugment policy for real and fake images alike: any of translation, cutout, brightness, contrast; "" for none.')
@click.option("--ema-kimg", type=click.FloatRange(min=0), **_family_default("ema_kimg"), help="Half-life in thousand images of the generator weight average used for sampling; 0 = none.")
@click.option("--sampling-steps", type=click.IntRange(min=1), **default_from(GAN, "sampling_steps"),
              help="ddim: denoising steps (network calls) per drawn image, previews, `xgan sample` and quality alike.")
@click.option("--ema-rampup", type=click.FloatRange(min=0), **default_from(GAN, "ema_rampup"), help="Cap the half-life at this fraction of the images seen so far, for short runs; 0 = no cap.")
@click.option("--preview-every", type=click.IntRange(min=1), **default_from(GAN, "preview_every"), help="Epochs between preview grids and loss plots.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), **default_from(GAN, "checkpoint_every"), help="Epochs between resume checkpoints (also written at the end and on Ctrl-C/SIGTERM).")
@click.option("--snapshot-every", type=click.IntRange(min=1), **default_from(GAN, "snapshot_every"), help="Epochs between saved generator snapshots (for `xgan sample --checkpoint`).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), **default_from(GAN, "out"), help="Parent folder of the numbered run folders.")
@click.option("--resume", is_flag=False, flag_value="latest", default=None, metavar="[DIR]",
              help="Continue a run from its last checkpoint, exactly: the latest GAN run under --out, or DIR. "
                   "Its own options are kept; only --epochs/--kimg may extend it.")
@click.option("--kid-every", type=click.IntRange(min=0), default=None, cls=LazyOption,
              shown=lambda: f"{DEFAULT_KID_EVERY}; {DDIM_KID_EVERY} with --model ddim",
              help="Epochs between cheap KID estimates (128 generated vs the training images, 16x16-pixel features), "
                   "logged as `kid` in history.json and losses.png; 0 = off.")
@click.option("--tensorboard", is_flag=True, default=False, help="Also write TensorBoard logs (every scalar of history.json, and the preview grids) to <run>/tensorboard.")
@click.option("--seed", type=SEED, **default_from(GAN, "seed"), help="Seed of the weights, latents, batches and augmentation.")
@strategy_option(GAN)
@precision_option(GAN)
@click.option("--upsample", type=click.Choice(["transpose", "resize"]), **default_from(GAN, "upsample"),
              help="Generator upsampling: DCGAN's stride-2 transposed convolutions, or nearest-neighbour x2 then a 3x3 convolution (no checkerboard).")
@click.option("--loss", type=click.Choice(["bce", "hinge"]), **default_from(GAN, "loss"),
              help="Adversarial loss: DCGAN's cross-entropy (non-saturating for the generator), or the hinge loss.")
@click.option("--r1-gamma", type=click.FloatRange(min=0), **default_from(GAN, "r1_gamma"),
              help="Weight of the R1 gradient penalty on real images (gamma/2 E|grad D|^2); 0 = none.")
@click.option("--spectral-norm", is_flag=True, default=False, help="Spectral normalization on the discriminator's convolutions (instead of its batch norm).")
@click.option("--minibatch-std", is_flag=True, default=False, help="The discriminator also sees the batch's feature standard deviation (against collapse).")
@click.option("--ada-target", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Adaptive augmentation (StyleGAN2-ADA): apply --augment to each image with a probability tuned so that "
                   "E[sign D(real)] stays at this target (e.g. 0.6) [default: always apply it].")
@click.option("--ada-kimg", type=click.FloatRange(min=0, min_open=True), **default_from(GAN, "ada_kimg"),
              help="With --ada-target: thousand images over which the probability can move from 0 to 1.")
@click.option("--init-from", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Transfer: start from the networks of this GAN run's last checkpoint (same architecture options), e.g. one "
                   "trained with --every-class.")
@click.option("--freeze-d", type=click.IntRange(min=0), **default_from(GAN, "freeze_d"),
              help="With --init-from: keep the discriminator's first N downsampling layers fixed (FreezeD).")
@click.option("--every-class", is_flag=True, default=False,
              help="Learn the training images of every class as one set (no --class): a pre-training for --init-from.")
@click.pass_context
def train(ctx, data, class_name, conditional, splits_file, split_seed, image_size, epochs, kimg, batch_size, learning_rate, beta_1,
          latent_dim, width, augment, ema_kimg, ema_rampup, preview_every, checkpoint_every, snapshot_every, out, resume,
          kid_every, tensorboard, seed, strategy, precision, upsample, loss, r1_gamma, spectral_norm, minibatch_std, ada_target,
          ada_kimg, init_from, freeze_d, every_class, model, sampling_steps):
    """Train a DCGAN on one class of the training split (never on validation or test images), or with
    --conditional one class-conditional DCGAN on every class of it (previews: one row per class), or with
    --model ddim a denoising diffusion model of the class.

    Writes a run folder under --out (samples/00000-gan-covid/): config.json, the keys of the real images it read,
    reals.png, previews/, losses.png, history.json, checkpoints/ and snapshots/. Ctrl-C or SIGTERM
    saves a checkpoint after the current epoch; continue with --resume.
    """
    from .gan import GanConfig, TrainingStopped, resume_gan, train_gan
    from .gan.train import find_resumable_run, run_summary
    from .runs import read_gan_config

    try:
        if resume is not None:
            fixed = [param.opts[0] for param in ctx.command.params
                     if param.name not in ("resume", "epochs", "kimg", "out", "kid_every", "strategy")
                     and ctx.get_parameter_source(param.name) == click.core.ParameterSource.COMMANDLINE]
            if fixed:
                raise UserError(f"--resume keeps the run's own options; drop {', '.join(fixed)} (only --epochs and --kimg can change)")
            chosen = ctx.get_parameter_source("strategy") == click.core.ParameterSource.COMMANDLINE
            resumed = find_resumable_run(None if resume == "latest" else Path(resume), out)
            every = kid_default(kid_every, read_gan_config(resumed).get("model", "dcgan"))
            run_dir = resume_gan(resumed, parent=out, epochs=epochs, kimg=kimg, strategy=strategy if chosen else None,
                                 callbacks=_kid_callbacks(every))
        else:
            config = GanConfig(
                data=str(data) if data else None, class_name=class_name, conditional=conditional,
                splits=str(splits_file) if splits_file else None,
                split_seed=split_seed, image_size=image_size, latent_dim=latent_dim, width=width,
                epochs=epochs if epochs is not None else GanConfig.epochs, kimg=kimg, batch_size=batch_size,
                learning_rate=learning_rate, beta_1=beta_1, augment=augment, ema_kimg=ema_kimg, ema_rampup=ema_rampup,
                preview_every=preview_every, checkpoint_every=checkpoint_every, snapshot_every=snapshot_every,
                out=str(out), tensorboard=tensorboard, seed=seed, strategy=strategy, precision=precision,
                upsample=upsample, loss=loss, r1_gamma=r1_gamma, spectral_norm=spectral_norm, minibatch_std=minibatch_std,
                ada_target=ada_target, ada_kimg=ada_kimg, init_from=str(init_from) if init_from else None, freeze_d=freeze_d,
                every_class=every_class, model=model, sampling_steps=sampling_steps)
            run_dir = train_gan(config, callbacks=_kid_callbacks(kid_default(kid_every, config.model)))
    except TrainingStopped as stopped:
        if stopped.signal_number is None:
            raise
        click.echo(f"Error: {stopped}", err=True)
        sys.exit(128 + stopped.signal_number)
    click.echo(run_summary(run_dir))


def kid_default(every: int | None, model: str) -> int:
    """--kid-every's value: as given, or the family's default (a diffusion model draws in many network calls)."""
    return kid_every_default(model) if every is None else every


def _kid_callbacks(every: int) -> list:
    """The KID monitor for `xgan train`, or none when `every` is 0."""
    if not every:
        return []
    from .quality.monitor import KidMonitor

    return [KidMonitor(every)]


@cli.command()
@click.option("--run", "run_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="GAN run folder [default: the latest under samples/].")
@click.option("--n", "num_images", type=click.IntRange(min=1), default=400, help="Number of images.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Folder to write [default: <run>/synthetic].")
@click.option("--overwrite", is_flag=True, help="Replace the images an earlier `xgan sample` wrote in that folder.")
@click.option("--checkpoint", default=None, help="Generator snapshot, e.g. epoch_0200 [default: the latest in <run>/snapshots/].")
@click.option("--class", "class_name", default=None,
              help="Class to draw from a conditional run (required there; written to <run>/synthetic-<class>) [default: a one-class run's own].")
@click.option("--seed", type=SEED, default=0, help="Seed of the latents: the same seed writes byte-identical PNGs.")
def sample(run_dir, num_images, out, overwrite, checkpoint, class_name, seed):
    """Write N gray PNGs from a GAN run's averaged (EMA) generator, with manifest.csv and contact_sheet.png."""
    from .gan import sample_to_folder

    folder = sample_to_folder(run_dir, num_images, out, checkpoint=checkpoint, seed=seed, overwrite=overwrite,
                              class_name=class_name)
    click.echo(f"wrote {num_images} images, manifest.csv and contact_sheet.png to {folder}")


@cli.command("run")
@click.option("--data", type=DATA, default=None,
              help="Dataset (a folder, manifest.csv, .npz, or a bundled set: pneumoniamnist, covid_ccby) [default: the bundled "
                   "PneumoniaMNIST with its normal class cut to 120 training images: one source for both classes and 135 normal "
                   "test images].")
@click.option("--class", "class_name", default=None, help="Class the GAN learns and balancing adds to [default: the minority].")
@click.option("--ratio", **default_from(STUDY, "ratio"), help='Balancing target, minority/majority after: "0.5", "1:2", "auto" or "covid=300".')
@click.option("--minority-train", type=PositiveIntList(), default=None, cls=LazyOption,
              shown=lambda: f"{_library('study.config', 'DEFAULT_MINORITY_TRAIN')} with the default data, else no cut",
              help="Cut the minority's training images to N (seeded, whole patients; validation and test untouched). "
                   "Several values, e.g. 60,120,240, run one study per value and draw each arm's scores against N.")
@click.option("--seeds", type=click.IntRange(min=1), **default_from(STUDY, "seeds"), help="Classifier seeds per arm.")
@click.option("--preset", type=click.Choice(["quick", "paper"]), **default_from(STUDY, "preset"), help_text=lambda: _presets_help())
@click.option("--size", type=click.Choice(["auto", "32", "64", "128"]), default="auto",
              help="Image side in pixels for the GAN and the classifier; auto: 32 for data of 32 px or less (PneumoniaMNIST), else 64.")
@click.option("--num-synthetic", type=click.IntRange(min=1), default=None, cls=LazyOption,
              shown=lambda: f"what the ratio needs, at least {_library('study.config', 'MIN_SYNTHETIC')}",
              help="Synthetic images sampled from the GAN; fewer than the ratio needs is refused before anything trains.")
@click.option("--gan-epochs", type=click.IntRange(min=1), default=None, help="GAN epochs [default: the preset's].")
@click.option("--classifier-epochs", type=click.IntRange(min=1), default=None, help="Most classifier epochs [default: the preset's].")
@click.option("--quality/--no-quality", **default_from(STUDY, "quality"), help="Measure synthetic image quality and memorization.")
@click.option("--accept-failed-gan", is_flag=True,
              help="Go on sampling from a GAN that diverged or collapsed (the study stops before sampling from it otherwise); "
                   "also with --resume.")
@splits_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), **default_from(STUDY, "out"), help="Folder in which the numbered study folder is made.")
@click.option("--resume", is_flag=True, help="Resume the latest unfinished study under --out (or --study).")
@click.option("--study", "study_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Study folder to resume (implies --resume).")
@click.option("--tensorboard", is_flag=True, default=False, help="Also write TensorBoard logs in the GAN run and beside every classifier model.")
@click.option("--conditional", is_flag=True,
              help="Train one class-conditional GAN on every class instead of the minority's DCGAN, sample every class, and compare "
                   "every GAN arm (capped, equal share, fine-tuned on real, with class weights) beside the five.")
@click.option("--seed", type=SEED, **default_from(STUDY, "seed"), help="Seed of the cut, the GAN, the sampling and the first classifier seed.")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multi-worker"]), **default_from(STUDY, "strategy"),
              help="tf.distribute strategy of the GAN and classifier training: default (one device) or mirrored (every GPU of "
                   "this machine; the GAN's batch of 32 and the classifier's of 40 must split evenly over them). multi-worker is "
                   "refused: on several machines run xgan train, sample and classify, the training ones with --strategy multi-worker.")
@precision_option(STUDY)
@backbone_option(STUDY)
@weights_option(STUDY)
@freeze_epochs_option
@workers_option
@click.option("--external", multiple=True, metavar="[NAME=]DATA", help=EXTERNAL_HELP + " Kept in study.json, so --resume keeps it.")
@click.option("--gan-variant", type=click.Choice(list(GAN_VARIANTS)), **default_from(STUDY, "gan_variant"),
              help="The GAN stage's generator: the card's DCGAN; ada: the same with adaptive augmentation (xgan train "
                   "--ada-target 0.6), which narrowed the held-out realism gap in benchmarks/bench_generator.py; ddim: a "
                   "small diffusion model (xgan train --model ddim --width 16), a closer match in pixels, smoother in texture.")
@click.pass_context
def run_command(ctx, data, class_name, ratio, minority_train, seeds, preset, size, num_synthetic, gan_epochs, classifier_epochs,
                quality, accept_failed_gan, splits_file, out, resume, study_dir, tensorboard, conditional, seed, strategy, precision, external,
                backbone, weights, freeze_epochs, gan_variant, workers):
    """Run the whole study: split, train the GAN on the minority training images, sample what the ratio needs,
    measure quality, balance, train every classifier arm over several seeds, evaluate on real held-out images,
    write one report.

    With no options it runs on the bundled PneumoniaMNIST, normal class cut to 120 training images, with the quick
    preset. Ctrl-C stops it; `xgan run --resume` continues at the stage that did not finish (the GAN from its last
    checkpoint).
    """
    from .study.runner import StudyConfig, run_study

    if resume or study_dir:
        fixed = [param.opts[0] for param in ctx.command.params
                 if param.name not in ("resume", "study_dir", "out", "accept_failed_gan")
                 and ctx.get_parameter_source(param.name) == click.core.ParameterSource.COMMANDLINE]
        if fixed:
            raise click.UsageError(f"--resume keeps the study's own options; drop {', '.join(fixed)} (only --accept-failed-gan can be added)")
        folder = run_study(None if study_dir else StudyConfig(out=str(out)), resume=study_dir, resume_latest=True,
                           accept_failed_gan=accept_failed_gan, echo=click.echo)
    else:
        config = StudyConfig(data=str(data) if data else None, class_name=class_name, ratio=ratio, seeds=seeds, preset=preset,
                             size=None if size == "auto" else int(size), num_synthetic=num_synthetic, minority_train=minority_train,
                             gan_epochs=gan_epochs, classifier_epochs=classifier_epochs, quality=quality,
                             accept_failed_gan=accept_failed_gan, splits=str(splits_file) if splits_file else None, out=str(out),
                             tensorboard=tensorboard, conditional=conditional, seed=seed, strategy=strategy,
                             precision=precision, backbone=backbone, weights=weights, freeze_epochs=freeze_epochs, external=tuple(external),
                             gan_variant=gan_variant, workers=workers)
        folder = run_study(config, echo=click.echo)
    report = "sweep.md" if (folder / "sweep.md").is_file() else "report.md"
    click.echo(f"study folder {folder}; report {folder / report}")


@cli.group()
def cache():
    """Show or clear the cache of decoded images (folder: $XGAN_CACHE_DIR, default ~/.cache/xgan).

    Every command decodes a dataset's image files once and keeps the resized pixels there, memory
    mapped; later commands on the same folder read only new or changed files. XGAN_CACHE_DIR=off
    switches the cache off.
    """


@cache.command("info")
def cache_info():
    """List the cached datasets, their image sizes and the disk space they take."""
    from .datasets.cache import cache_summary

    summary = cache_summary()
    if summary["folder"] is None:
        click.echo("the image cache is off (XGAN_CACHE_DIR=off)")
        return
    click.echo(f"cache folder: {summary['folder']}")
    for entry in summary["datasets"]:
        sizes = ", ".join(f"{s} px" for s in entry["sizes"]) or "metadata only"
        click.echo(f"  {entry['source']}: {sizes}, {entry['bytes'] / 2**20:.1f} MiB")
    click.echo(f"{len(summary['datasets'])} dataset(s), {summary['bytes'] / 2**20:.1f} MiB in all")


@cache.command("clear")
def cache_clear():
    """Delete every cached dataset; the next command on a dataset decodes it again."""
    from .datasets.cache import clear_cache

    num_datasets, num_bytes = clear_cache()
    click.echo(f"deleted the cache of {num_datasets} dataset(s), {num_bytes / 2**20:.1f} MiB")


def main() -> None:
    """Entry point of the `xgan` console script."""
    cli(prog_name="xgan")


if __name__ == "__main__":
    main()
