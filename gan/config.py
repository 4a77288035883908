"""`GanConfig`: every option of a GAN training run, checked once and saved as the run's config.json."""

import dataclasses
from dataclasses import dataclass

from ..runtime.distribute import STRATEGIES
from ..errors import invalid_argument
from ..runtime.precision import check_precision

IMAGE_SIZES = (32, 64, 128)
DEFAULT_EPOCHS = 1000  # the study's length
# Epochs between the cheap KID estimates that `xgan train` (and `xgan.train_gan`) log in history.json through
# quality's KidMonitor, a callback this package does not import; 0 = none.
DEFAULT_KID_EVERY = 10

# Augmentation operations (implemented in augment.py) in the order they are applied, whatever
# order the policy names them in.
AUGMENT_OPERATIONS = ("brightness", "contrast", "translation", "cutout")
DEFAULT_POLICY = "translation,cutout,brightness,contrast"
UPSAMPLINGS = ("transpose", "resize")
LOSSES = ("bce", "hinge")
# Named generator variants a study can pick (`xgan run --gan-variant`): GanConfig changes from the card's DCGAN.
# "ada": adaptive augmentation, the one variant that clearly narrowed the held-out gap in benchmarks/bench_generator.py.
GAN_VARIANTS = {"dcgan": {}, "ada": {"ada_target": 0.6}}


def parse_policy(policy: str) -> tuple[str, ...]:
    """Turn a policy string into the operations it names, in the order they are applied.

    Args:
        policy: comma-separated operation names, e.g. "translation,cutout"; "" means none.

    Returns:
        The named operations, without repeats, in the order of `AUGMENT_OPERATIONS`.

    Raises:
        UserError: the policy names an operation that does not exist.
    """
    if not isinstance(policy, str):
        raise invalid_argument("augment", "a comma-separated string", policy)
    names = {name.strip() for name in policy.split(",") if name.strip()}
    unknown = sorted(names - set(AUGMENT_OPERATIONS))
    if unknown:
        raise invalid_argument("augment", f"a comma-separated list of {', '.join(sorted(AUGMENT_OPERATIONS))} (or an empty string for none)", received=f"augment={policy!r} (unknown: {', '.join(unknown)})")
    return tuple(name for name in AUGMENT_OPERATIONS if name in names)


@dataclass
class GanConfig:
    """Options of one DCGAN training run; each maps to one `xgan train` option.

    Defaults follow the study this toolkit reproduces (Adam 2e-4, beta_1 0.5, batch 32) and the
    DCGAN paper (latent 100, width 64 at 64 px); the small-data settings (augmentation, EMA) follow
    DiffAugment and StyleGAN2-ADA.
    """

    data: str | None = None  # dataset source (folder, manifest.csv or .npz); None = the bundled set
    class_name: str | None = None  # class to learn; None = the smallest class of the training split
    conditional: bool = False  # one class-conditional GAN on every class of the training split (class_name must be None)
    splits: str | None = None  # splits.json to use or create; None = beside the dataset
    split_seed: int | None = None  # seed of the split when it is first made
    image_size: int = 64  # 32, 64 or 128 pixels, one gray channel
    latent_dim: int = 100  # length of the generator's input vector
    width: int = 64  # channels of the generator's last hidden layer (doubled per layer towards 4x4)
    epochs: int = DEFAULT_EPOCHS  # passes over the training images; one epoch = max(1, n // batch) steps
    kimg: float | None = None  # when set, train for this many thousand real images instead of `epochs`
    batch_size: int = 32
    learning_rate: float = 2e-4  # Adam, both networks
    beta_1: float = 0.5  # Adam's first-moment decay
    augment: str = DEFAULT_POLICY  # DiffAugment policy, applied to real and fake; "" = none
    ema_kimg: float = 1.0  # half-life of the generator's weight average, in thousand images; 0 = no averaging
    ema_rampup: float = 0.05  # half-life is at most this fraction of the images seen so far; 0 = no cap
    preview_every: int = 25  # epochs between preview grids (and loss plots)
    checkpoint_every: int = 50  # epochs between resume checkpoints (also at the end and on interrupt)
    snapshot_every: int = 100  # epochs between saved EMA-generator snapshots for checkpoint selection
    out: str = "samples"  # parent folder of the numbered run folders
    tensorboard: bool = False  # also write TensorBoard logs (scalars, preview grids) to <run>/tensorboard
    seed: int = 0  # weights, latents, augmentation and batch order all follow from it
    strategy: str = "default"  # "default" (one device), "mirrored" (this machine's GPUs), "multi-worker" (TF_CONFIG); batch_size is global
    precision: str = "float32"  # "float32", or "mixed": float16 computation, float32 weights and losses (for GPUs; see precision.py)
    # Options for a stronger generator on few images (issue 21); the defaults are the card's DCGAN, unchanged.
    upsample: str = "transpose"  # generator upsampling: "transpose" (DCGAN's 4x4 stride 2) or "resize" (nearest x2 + 3x3 conv: no checkerboard)
    loss: str = "bce"  # "bce": DCGAN's cross-entropy (non-saturating for G); "hinge": the hinge loss of SN-GAN/BigGAN
    r1_gamma: float = 0.0  # weight of the R1 gradient penalty on real images, gamma/2 * E|grad D(x)|^2; 0 = none
    spectral_norm: bool = False  # spectral normalization on the discriminator's convolutions (replacing its batch norm)
    minibatch_std: bool = False  # the discriminator sees the batch's feature standard deviation as one more channel
    ada_target: float | None = None  # adaptive augmentation (StyleGAN2-ADA): each image augmented with a probability p tuned so E[sign D(real)] stays at this target; None = always
    ada_kimg: float = 20.0  # with ada_target: thousand images over which p can move from 0 to 1
    init_from: str | None = None  # transfer: a GAN run folder whose last checkpoint's networks this run starts from (same architecture)
    freeze_d: int = 0  # FreezeD: the discriminator's first N downsampling layers are not trained (with init_from)
    every_class: bool = False  # learn the training images of every class as one set (pre-training for init_from); class_name must be None

    def __post_init__(self):
        if self.image_size not in IMAGE_SIZES:
            raise invalid_argument("image_size", "one of 32, 64 or 128 (option --size)", self.image_size)
        for name in ("latent_dim", "width", "epochs", "preview_every", "checkpoint_every", "snapshot_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise invalid_argument(name, "a positive integer", value)
        if not isinstance(self.batch_size, int) or self.batch_size < 2:
            raise invalid_argument("batch_size", "an integer of at least 2 (batch norm needs two images)", self.batch_size)
        if self.kimg is not None and not self.kimg > 0:
            raise invalid_argument("kimg", "a positive number of thousand images, or None", self.kimg)
        if not self.learning_rate > 0:
            raise invalid_argument("learning_rate", "a positive number", self.learning_rate)
        if not 0 <= self.beta_1 < 1:
            raise invalid_argument("beta_1", "a number in [0, 1)", self.beta_1)
        if not self.ema_kimg >= 0:
            raise invalid_argument("ema_kimg", "a non-negative number", self.ema_kimg)
        if not self.ema_rampup >= 0:
            raise invalid_argument("ema_rampup", "a non-negative fraction (0 = no ramp-up)", self.ema_rampup)
        parse_policy(self.augment)
        if self.tensorboard:
            from ..runtime.tensorboard_logs import require_tensorboard

            require_tensorboard()
        if self.conditional and self.class_name is not None:
            raise invalid_argument("class_name", "none with --conditional, which learns every class of the training split", self.class_name, option="--class")
        if self.upsample not in UPSAMPLINGS:
            raise invalid_argument("upsample", f"one of {', '.join(UPSAMPLINGS)}", self.upsample, option="--upsample")
        if self.loss not in LOSSES:
            raise invalid_argument("loss", f"one of {', '.join(LOSSES)}", self.loss, option="--loss")
        if not (isinstance(self.r1_gamma, (int, float)) and self.r1_gamma >= 0):
            raise invalid_argument("r1_gamma", "a non-negative number (0 = no penalty)", self.r1_gamma, option="--r1-gamma")
        if self.ada_target is not None and not 0 < self.ada_target < 1:
            raise invalid_argument("ada_target", "a number in (0, 1), e.g. 0.6, or None", self.ada_target, option="--ada-target")
        if self.ada_target is not None and not parse_policy(self.augment):
            raise invalid_argument("ada_target", "an augmentation policy to adapt (--augment is empty)", self.ada_target, option="--ada-target")
        if not self.ada_kimg > 0:
            raise invalid_argument("ada_kimg", "a positive number of thousand images", self.ada_kimg)
        if not isinstance(self.freeze_d, int) or isinstance(self.freeze_d, bool) or self.freeze_d < 0:
            raise invalid_argument("freeze_d", "a non-negative integer", self.freeze_d, option="--freeze-d")
        if self.freeze_d > 0 and self.init_from is None:
            raise invalid_argument("freeze_d", "to be used with init_from (--init-from): freezing untrained layers keeps them random",
                                   self.freeze_d, option="--freeze-d")
        layers_below_4x4 = {32: 3, 64: 4, 128: 5}[self.image_size]
        if self.freeze_d >= layers_below_4x4:
            raise invalid_argument("freeze_d", f"fewer than the discriminator's {layers_below_4x4} downsampling layers at "
                                   f"{self.image_size} px", self.freeze_d)
        if self.every_class and self.class_name is not None:
            raise invalid_argument("class_name", "none with --every-class, which learns every class of the training split as one",
                                   self.class_name, option="--class")
        if self.conditional:
            chosen = [name for name, default in (("upsample", "transpose"), ("spectral_norm", False), ("minibatch_std", False),
                                                 ("init_from", None), ("every_class", False))
                      if getattr(self, name) != default]
            if chosen:
                raise invalid_argument(chosen[0], "its default with --conditional (the conditional GAN keeps the DCGAN's "
                                       "architecture)", getattr(self, chosen[0]))
        if self.strategy not in STRATEGIES:
            raise invalid_argument("strategy", f"one of {', '.join(STRATEGIES)}", self.strategy)
        check_precision(self.precision)

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "GanConfig":
        """Rebuild a config from a run's config.json, ignoring the keys the run added to it."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
