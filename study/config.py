"""The options of `xgan run` (`StudyConfig`), its presets and the default study."""

from dataclasses import dataclass
from pathlib import Path

from ..datasets.dataset import BUNDLED_DATASETS
from ..errors import UserError, invalid_argument
from ..runtime.distribute import STRATEGIES
from ..runtime.precision import check_precision

# quick: the whole study in under 10 minutes on 2 CPU cores; paper: the study's 1000 GAN epochs, 50 classifier epochs.
PRESETS = {
    # quick: a narrower GAN (width 32) for more steps in the same time: sharper images than width 64 at 300 epochs.
    "quick": {"gan_epochs": 700, "gan_width": 32, "classifier_epochs": 12, "patience": 4, "quality_images": 200},
    "paper": {"gan_epochs": 1000, "gan_width": 64, "classifier_epochs": 50, "patience": 10, "quality_images": 500},
}
# The default study: one source for both classes (no source shortcut), the minority's training images cut to a
# realistic few, and validation and test left whole, so the test split keeps its 135 real normal images.
DEFAULT_STUDY_DATA = "pneumoniamnist"
DEFAULT_MINORITY_TRAIN = 120
GAN_SIZES = (32, 64, 128)
MIN_SYNTHETIC = 400  # sampled even when the ratio needs fewer: the quality report compares a few hundred
CURATION_POOL = 2  # --conditional: images drawn per image the equal-share arms use (gan_curated keeps the better half)
# Why a study cannot run multi-worker: train_gan on a non-chief worker trains in a temporary folder deleted when it returns,
# so that worker has no generator to sample from, yet under DATA sharding every worker's classifier reads the whole training
# set, synthetic images included; and a study resumes from a folder that only the chief has.
MULTI_WORKER_REFUSAL = ("`xgan run` does not take --strategy multi-worker: a non-chief worker keeps no GAN to sample from, "
                        "yet its classifier needs the synthetic images, and the study folder it resumes from is the chief's alone; "
                        "on several machines run `xgan train --strategy multi-worker`, `xgan sample` (then copy its folder to every "
                        "machine) and `xgan classify --strategy multi-worker --synthetic DIR`, or use --strategy mirrored for the "
                        "GPUs of one machine")


@dataclass
class StudyConfig:
    """Options of `xgan run`; None fields take the preset's (or the data's) value."""

    data: str | None = None  # dataset path or bundled name; None = the default study (pneumoniamnist, minority cut)
    class_name: str | None = None  # class the GAN learns and balancing adds to; None = the minority
    ratio: str = "0.5"  # balancing target (minority / majority after), as for `xgan balance`
    seeds: int = 3  # classifier seeds per arm
    preset: str = "quick"  # "quick" or "paper"
    size: int | None = None  # image side for the GAN and the classifier; None = 32 for data of 32 px or less, else 64
    num_synthetic: int | None = None  # images sampled from the GAN; None = what the ratio needs (at least 400)
    minority_train: tuple[int, ...] | None = None  # cut the minority's training images to N (several: a sweep)
    gan_epochs: int | None = None  # None = the preset's
    classifier_epochs: int | None = None  # None = the preset's
    quality: bool = True  # measure the synthetic images (KID, precision/recall, memorization)
    splits: str | None = None  # the dataset's splits.json (before any cut); None = beside the dataset
    out: str = "samples"  # parent of the numbered study folder
    seed: int = 0  # GAN, sampling, the cut, choice of synthetic images and the first classifier seed
    accept_failed_gan: bool = False  # go on sampling from a GAN that diverged or collapsed
    tensorboard: bool = False  # TensorBoard logs in the GAN run and beside every classifier model
    conditional: bool = False  # one class-conditional GAN on every class, and every GAN arm of issue 11 in the comparison
    strategy: str = "default"  # tf.distribute of the GAN and classifier stages: "default" (one device) or "mirrored" (this machine's GPUs)
    precision: str = "float32"  # of the GAN and classifier stages: "float32", or "mixed" (float16 computation; for GPUs, see precision.py)
    external: tuple[str, ...] = ()  # external test sets ("NAME=PATH"), scored by the classify stage like `xgan evaluate`
    backbone: str = "cnn"  # network of every classifier arm: "cnn" (the study's) or a keras.applications family (classifier/backbones.py)
    weights: str = "none"  # the backbone's starting weights: "none", "imagenet" or a .h5 weights file of its family
    freeze_epochs: int | None = None  # head-only epochs of a pretrained backbone; None: 3 with pretrained weights, else 0
    gan_variant: str = "dcgan"  # the GAN stage's generator: "dcgan" (the card's) or a name of gan.config.GAN_VARIANTS ("ada")
    workers: int | None = None  # worker processes for models and stages side by side (threads = cores // workers); None: one per core ($XGAN_WORKERS if set); 1: one after another

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise invalid_argument("strategy", f"one of {', '.join(STRATEGIES)} (option --strategy)", self.strategy)
        if self.strategy == "multi-worker":
            raise UserError(MULTI_WORKER_REFUSAL)
        from ..runtime.workers import plan_workers

        plan_workers(self.workers)  # refuses anything but a positive integer, and a bad $XGAN_WORKERS before a study folder exists
        if self.strategy != "default" and (self.workers or 1) > 1:
            raise UserError(f"--workers {self.workers} trains models side by side on this machine's cores, each on one device; "
                            f"--strategy {self.strategy} spreads one model over devices: pass --workers 1 with it")
        check_precision(self.precision)
        from ..gan.config import GAN_VARIANTS, refuse_dcgan_only

        if self.gan_variant not in GAN_VARIANTS:
            raise invalid_argument("gan_variant", f"one of {', '.join(GAN_VARIANTS)}", self.gan_variant, option="--gan-variant")
        if GAN_VARIANTS[self.gan_variant].get("model") == "ddim":  # before a study folder exists, not at its GAN stage
            refuse_dcgan_only({"conditional": self.conditional, "strategy": self.strategy, "precision": self.precision},
                              "--gan-variant ddim")
        from ..classifier.backbones import resolve_network_options

        # The study's sizes (32, 64, 128) are all at least every family's smallest; the size is checked here when given.
        _, self.weights, self.freeze_epochs = resolve_network_options(self.backbone, self.size, self.weights, self.freeze_epochs,
                                                                      lambda: 32)
        from ..classifier.external import parse_externals

        self.external = tuple(str(spec) for spec in parse_externals(self.external or ()))  # as NAME=PATH, so study.json names them
        if self.preset not in PRESETS:
            raise invalid_argument("preset", f"one of {sorted(PRESETS)}", self.preset)
        from ..balance import parse_target

        parse_target(self.ratio)
        if self.data is None:
            self.data = DEFAULT_STUDY_DATA
            if self.minority_train is None:
                self.minority_train = (DEFAULT_MINORITY_TRAIN,)
        if self.minority_train is not None:
            self.minority_train = tuple(self.minority_train)
            if not self.minority_train or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.minority_train):
                raise invalid_argument("minority_train", "positive integers", received=f"minority_train={','.join(map(str, self.minority_train))}")
            if len(set(self.minority_train)) != len(self.minority_train):
                raise invalid_argument("minority_train", "each value once", received=f"minority_train={','.join(map(str, self.minority_train))}")
        preset = PRESETS[self.preset]
        if self.gan_epochs is None:
            self.gan_epochs = preset["gan_epochs"]
        if self.classifier_epochs is None:
            self.classifier_epochs = preset["classifier_epochs"]
        for name in ("seeds", "gan_epochs", "classifier_epochs"):
            if getattr(self, name) < 1:
                raise invalid_argument(name, "a positive integer", received=f"{name}={getattr(self, name)}")
        if self.num_synthetic is not None and self.num_synthetic < 1:
            raise invalid_argument("num_synthetic", "a positive integer", received=f"num_synthetic={self.num_synthetic}")
        if self.size is not None and self.size not in GAN_SIZES:
            raise invalid_argument("size", f"one of {', '.join(map(str, GAN_SIZES))}", received=f"size={self.size}")

    @property
    def is_sweep(self) -> bool:
        """True when several minority sizes are asked for: one study per size, and a figure across them."""
        return self.minority_train is not None and len(self.minority_train) > 1

    @property
    def data_name(self) -> str:
        """A short name of the dataset, for folder names and reports."""
        return self.data if self.data in BUNDLED_DATASETS and not Path(self.data).exists() else Path(self.data).stem
