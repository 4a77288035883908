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
DDIM_KID_EVERY = 100  # a diffusion model draws the monitor's 128 images in sampling_steps network calls each


def kid_every_default(model: str) -> int:
    """Epochs between the KID monitor's estimates when not given: fewer for a family that draws in many network calls."""
    return DDIM_KID_EVERY if model == "ddim" else DEFAULT_KID_EVERY

# Augmentation operations (implemented in augment.py) in the order they are applied, whatever
# order the policy names them in.
AUGMENT_OPERATIONS = ("brightness", "contrast", "translation", "cutout")
DEFAULT_POLICY = "translation,cutout,brightness,contrast"
UPSAMPLINGS = ("transpose", "resize")
LOSSES = ("bce", "hinge")
# Generator families (`xgan train --model`): "dcgan", the card's adversarial network; "ddim", a small denoising
# diffusion model sampled by DDIM (gan/diffusion.py). Each family's defaults for the options left at None: the
# DCGAN's are the study's (Adam 2e-4, beta_1 0.5, latent 100); the diffusion model's follow keras-io's
# "Denoising Diffusion Implicit Models" (AdamW 1e-3, a weight average of about 0.995 a step: a half-life of
# 138 steps of 32 images, 4.4 thousand images), at the width benchmarks/bench_diffusion.py measured (16: U-Net
# widths 16/32/64 at 32 px); its latent is the starting noise, one value per pixel, and it learns the images as
# they are (no DiffAugment: a diffusion model would learn the augmentations and draw them).
MODELS = ("dcgan", "ddim")
MODEL_DEFAULTS = {
    "dcgan": {"width": 64, "learning_rate": 2e-4, "beta_1": 0.5, "augment": DEFAULT_POLICY, "ema_kimg": 1.0},
    "ddim": {"width": 16, "learning_rate": 1e-3, "beta_1": 0.9, "augment": "", "ema_kimg": 4.4},
}
DCGAN_LATENT_DIM = 100
DEFAULT_SAMPLING_STEPS = 20  # DDIM steps (network calls) per image
# Named generator variants a study can pick (`xgan run --gan-variant`): GanConfig changes from the card's DCGAN.
# "ada": adaptive augmentation, the one variant that clearly narrowed the held-out gap in benchmarks/bench_generator.py.
# "ddim": the diffusion model, at its own width (the preset's GAN width is the DCGAN's).
GAN_VARIANTS = {"dcgan": {}, "ada": {"ada_target": 0.6}, "ddim": {"model": "ddim", "width": MODEL_DEFAULTS["ddim"]["width"]}}
# Options of the DCGAN alone (its adversarial training, transfer, tf.distribute and float16), with the value that
# means "off": a diffusion run refuses any other.
DCGAN_ONLY = (("conditional", False), ("upsample", "transpose"), ("loss", "bce"), ("r1_gamma", 0.0),
              ("spectral_norm", False), ("minibatch_std", False), ("ada_target", None), ("init_from", None),
              ("freeze_d", 0), ("every_class", False), ("strategy", "default"), ("precision", "float32"))


def refuse_dcgan_only(values: dict, chosen_by: str) -> None:
    """Refuse by name the first DCGAN-only option in `values` that is not off, for a diffusion model chosen by `chosen_by`.

    Raises:
        UserError: naming the option, the value that is off, and `chosen_by` (e.g. "--model ddim").
    """
    for name, off in DCGAN_ONLY:
        if name in values and values[name] != off:
            raise invalid_argument(name, f"{off!r} with {chosen_by} (an option of the DCGAN alone)", values[name],
                                   option="--" + name.replace("_", "-"))


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
    """Options of one generator training run; each maps to one `xgan train` option.

    Defaults follow the study this toolkit reproduces (Adam 2e-4, beta_1 0.5, batch 32) and the
    DCGAN paper (latent 100, width 64 at 64 px); the small-data settings (augmentation, EMA) follow
    DiffAugment and StyleGAN2-ADA. Options left at None take the family's default (`MODEL_DEFAULTS`;
    the latent length: 100, or the pixel count for "ddim"), so config.json always holds the values used.
    """

    data: str | None = None  # dataset source (folder, manifest.csv or .npz); None = the bundled set
    class_name: str | None = None  # class to learn; None = the smallest class of the training split
    conditional: bool = False  # one class-conditional GAN on every class of the training split (class_name must be None)
    splits: str | None = None  # splits.json to use or create; None = beside the dataset
    split_seed: int | None = None  # seed of the split when it is first made
    image_size: int = 64  # 32, 64 or 128 pixels, one gray channel
    model: str = "dcgan"  # generator family: "dcgan" or "ddim" (a denoising diffusion model sampled by DDIM)
    latent_dim: int | None = None  # length of the generator's input vector; None = 100, or the pixel count for "ddim"
    width: int | None = None  # DCGAN: channels of the generator's last hidden layer (doubled per layer towards 4x4); ddim: the U-Net's first level; None = the family's
    epochs: int = DEFAULT_EPOCHS  # passes over the training images; one epoch = max(1, n // batch) steps
    kimg: float | None = None  # when set, train for this many thousand real images instead of `epochs`
    batch_size: int = 32
    learning_rate: float | None = None  # Adam (both networks), AdamW for ddim; None = the family's
    beta_1: float | None = None  # Adam's first-moment decay; None = the family's
    augment: str | None = None  # DiffAugment policy, applied to real and fake; "" = none; None = the family's (none for ddim)
    ema_kimg: float | None = None  # half-life of the generator's weight average, in thousand images; 0 = no averaging; None = the family's
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
    sampling_steps: int = DEFAULT_SAMPLING_STEPS  # ddim: denoising steps per drawn image (network calls)

    def __post_init__(self):
        if self.image_size not in IMAGE_SIZES:
            raise invalid_argument("image_size", "one of 32, 64 or 128 (option --size)", self.image_size)
        if self.model not in MODELS:
            raise invalid_argument("model", f"one of {', '.join(MODELS)}", self.model, option="--model")
        for name, value in MODEL_DEFAULTS[self.model].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.latent_dim is None:
            self.latent_dim = self.image_size ** 2 if self.model == "ddim" else DCGAN_LATENT_DIM
        if self.model == "ddim":
            self._check_diffusion_options()
        elif self.sampling_steps != DEFAULT_SAMPLING_STEPS:
            raise invalid_argument("sampling_steps", f"its default ({DEFAULT_SAMPLING_STEPS}) without --model ddim: a GAN draws "
                                   "an image in one step", self.sampling_steps, option="--sampling-steps")
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

    def _check_diffusion_options(self) -> None:
        """The diffusion model's own constraints: its latent is one noise value per pixel, and it has no discriminator."""
        pixels = self.image_size ** 2
        if self.latent_dim != pixels:
            raise invalid_argument("latent_dim", f"{pixels} with --model ddim at {self.image_size} px (its latent is the "
                                   "starting noise, one value per pixel), or left out", self.latent_dim, option="--latent-dim")
        if self.augment:
            raise invalid_argument("augment", 'none ("") with --model ddim: a diffusion model learns the augmented images and '
                                   "would draw translations and cutouts", self.augment, option="--augment")
        refuse_dcgan_only({name: getattr(self, name) for name, _ in DCGAN_ONLY}, "--model ddim")
        if not isinstance(self.sampling_steps, int) or isinstance(self.sampling_steps, bool) or self.sampling_steps < 1:
            raise invalid_argument("sampling_steps", "a positive integer", self.sampling_steps, option="--sampling-steps")

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "GanConfig":
        """Rebuild a config from a run's config.json, ignoring the keys the run added to it."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
