"""The options of `xgan classify` (`ClassifyConfig`) and their checks, made before any data is read."""

from dataclasses import dataclass
from pathlib import Path

from ..balance import DEFAULT_EQUAL_SHARE, parse_target
from ..errors import UserError, invalid_argument
from ..runtime.distribute import STRATEGIES
from ..runtime.workers import plan_workers
from .arms import ARMS, BASELINE_ARM, WITH_GAN_ARM
from .backbones import resolve_network_options
from .config import ClassifierConfig, optimizer_defaults
from .data import default_image_size
from .external import parse_externals


@dataclass
class ClassifyConfig:
    """Options of `xgan classify`; the CLI options map one to one onto these fields."""

    data: Path | None = None  # dataset; None: the bundled covid_ccby set
    splits: Path | None = None  # splits.json; None: the dataset's own
    with_gan: bool = False  # train on the GAN-balanced training set
    synthetic: tuple[Path, ...] = ()  # synthetic folders (xgan sample) to balance with
    manifest: Path | None = None  # a training manifest from `xgan balance` instead of --synthetic
    ratio: str = "auto"  # balancing target of the GAN and oversampling arms: "auto", "0.5", "1:2", "covid=300"
    compare: bool = False  # run every arm over `seeds` seeds and write the report
    seeds: int | None = None  # seeds per arm: seed, seed+1, ...; None: 3 with `compare`, else 1 (several make a seed ensemble)
    size: int | str | None = None  # image side in pixels; None or "auto": 64 (the GAN's), or an .npz's own size when smaller, raised to the backbone's minimum
    epochs: int = 30  # most epochs per model (early stopping on the validation split)
    patience: int = 8  # epochs without validation improvement before stopping
    batch_size: int = 40
    optimizer: str = "adam"  # "adam", or "sgd": the study's SGD with momentum 5/6
    learning_rate: float | None = None  # None: the optimizer's default (adam 1e-3; sgd the study's 1e-4)
    lr_decay: float | None = None  # inverse time decay per step; None: adam none, sgd the study's 1e-6
    monitor: str = "val_auc"
    target_sensitivity: float | None = None  # None: threshold by Youden's J on the validation split; else the sensitivity it must reach there
    tta: bool = False  # score the test split (and choose the threshold) with test-time augmentation
    positive: str | None = None  # positive class; None: the minority
    out: Path = Path("samples")  # parent of the numbered run folder
    seed: int = 0  # first training seed; also seeds the choice of synthetic / repeated images
    tensorboard: bool = False  # also write TensorBoard logs (training and validation scalars) beside each model's history.json
    arm_names: tuple[str, ...] = ()  # with `compare`, train only these arms (and the baseline); () = every arm the inputs allow
    synthetic_cap: float = 0.5  # gan_capped: the most synthetic share of a class after balancing
    equal_share: float = DEFAULT_EQUAL_SHARE  # gan_equal and gan_curated: the synthetic share of every class
    strategy: str = "default"  # tf.distribute: "default" (one device), "mirrored" (this machine's GPUs), "multi-worker" (TF_CONFIG)
    precision: str = "float32"  # "float32", or "mixed": float16 computation with float32 weights (for GPUs; see precision.py)
    external: tuple = ()  # external test sets ("NAME=PATH" or a path; see external.py), scored like `xgan evaluate` after training
    backbone: str = "cnn"  # "cnn" (the study's CNN) or a keras.applications family (backbones.BACKBONES), for every arm
    weights: str = "none"  # the backbone's starting weights: "none", "imagenet" or a .h5 weights file of its family
    freeze_epochs: int | None = None  # head-only epochs before fine-tuning; None: 3 with pretrained weights, else 0
    shift_suite: bool = True  # with `compare`: score every model on corrupted copies of the test split (shift.py), a robustness proxy
    workers: int | None = None  # models trained side by side, each in its own process (threads = cores // workers); None: one per core ($XGAN_WORKERS if set); 1: in this process

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise invalid_argument("strategy", f"one of {', '.join(STRATEGIES)} (option --strategy)", self.strategy)
        plan_workers(self.workers)  # refuses anything but a positive integer, and a bad $XGAN_WORKERS before a run folder exists
        if self.strategy != "default" and (self.workers or 1) > 1:
            raise UserError(f"--workers {self.workers} trains models side by side on this machine's cores, each on one device; "
                            f"--strategy {self.strategy} spreads one model over devices: pass --workers 1 with it")
        self.synthetic = tuple(Path(p) for p in self.synthetic)
        self.out = Path(self.out)
        self.size, self.weights, self.freeze_epochs = resolve_network_options(self.backbone, self.size, self.weights, self.freeze_epochs,
                                                                              lambda: default_image_size(self.data))
        if self.seeds is None:
            self.seeds = 3 if self.compare else 1
        defaults = optimizer_defaults(self.optimizer)
        if self.learning_rate is None:
            self.learning_rate = defaults["learning_rate"]
        if self.lr_decay is None:
            self.lr_decay = defaults["lr_decay"]
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise invalid_argument("seed", "a non-negative integer", self.seed)
        if not isinstance(self.seeds, int) or self.seeds < 1:
            raise invalid_argument("seeds", "a positive integer", self.seeds)
        if self.synthetic and self.manifest:
            raise UserError("pass either --synthetic folders (balanced to --ratio here) or a --manifest from `xgan balance`, not both")
        if (self.synthetic or self.manifest) and not (self.with_gan or self.compare):
            raise UserError("--synthetic and --manifest are used with --with-gan (train on them) or --compare (the GAN arm)")
        if self.tensorboard:
            from ..runtime.tensorboard_logs import require_tensorboard

            require_tensorboard()
        parse_target(self.ratio)
        self.arm_names = tuple(self.arm_names)
        unknown = [arm for arm in self.arm_names if arm not in ARMS]
        if unknown:
            raise invalid_argument("arms", f"names among {', '.join(ARMS)}", received=f"{unknown[0]!r}")
        if self.arm_names and not self.compare:
            raise UserError("--arms chooses the arms of --compare; without --compare one model is trained (--with-gan or the baseline)")
        wanted_gan = [arm for arm in self.arm_names if ARMS[arm].needs_synthetic]
        if wanted_gan and not (self.synthetic or self.manifest):
            raise UserError(f"arm {wanted_gan[0]} needs synthetic images: pass --synthetic DIR (written by `xgan sample`)")
        if self.manifest and any(ARMS[arm].mixes_synthetic for arm in self.arm_names):
            mixing = [arm.name for arm in ARMS.values() if arm.mixes_synthetic]
            raise UserError(f"{', '.join(mixing)} mix synthetic images themselves: pass --synthetic folders, not a --manifest")
        for name in ("synthetic_cap", "equal_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise invalid_argument(name, "a share in (0, 1)", received=f"{name}={value!r}")
        self.external = parse_externals(self.external)
        if self.external and not self.compare and self.seeds == 1:
            raise UserError("--external scores a comparison (--compare) or a seed ensemble (--seeds N); for one model use "
                            "`xgan evaluate --model RUN --data SET`")
        self.classifier_config()  # its checks raise UserError

    @property
    def arms(self) -> list[str]:
        """The arms this run trains."""
        gan = bool(self.synthetic or self.manifest)
        if self.compare:
            if self.arm_names:  # the baseline always: every arm is compared with it
                return [name for name in ARMS if name in self.arm_names or name == BASELINE_ARM]
            return [name for name, arm in ARMS.items()
                    if (gan or not arm.needs_synthetic) and not (self.manifest and arm.mixes_synthetic)]
        return [WITH_GAN_ARM if self.with_gan else BASELINE_ARM]

    @property
    def seed_list(self) -> list[int]:
        """The training seeds of every arm: `seed`, `seed` + 1, ... (`seeds` of them)."""
        return [self.seed + i for i in range(self.seeds)]

    def classifier_config(self, **overrides) -> ClassifierConfig:
        """The network's config for these options."""
        values = {"image_size": self.size, "epochs": self.epochs, "patience": self.patience, "batch_size": self.batch_size,
                  "optimizer": self.optimizer, "learning_rate": self.learning_rate, "lr_decay": self.lr_decay,
                  "monitor": self.monitor, "target_sensitivity": self.target_sensitivity, "seed": self.seed,
                  "precision": self.precision, "backbone": self.backbone, "weights": self.weights, "freeze_epochs": self.freeze_epochs}
        return ClassifierConfig(**{**values, **overrides})

    def to_dict(self) -> dict:
        """JSON-ready options."""
        return {"data": None if self.data is None else str(self.data), "splits": None if self.splits is None else str(self.splits),
                "with_gan": self.with_gan, "synthetic": [str(p) for p in self.synthetic],
                "manifest": None if self.manifest is None else str(self.manifest), "ratio": self.ratio, "compare": self.compare,
                "seeds": self.seeds, "size": self.size, "epochs": self.epochs, "patience": self.patience,
                "batch_size": self.batch_size, "optimizer": self.optimizer, "learning_rate": self.learning_rate,
                "lr_decay": self.lr_decay, "monitor": self.monitor, "target_sensitivity": self.target_sensitivity,
                "tta": self.tta, "positive": self.positive, "out": str(self.out), "seed": self.seed, "tensorboard": self.tensorboard,
                "arm_names": list(self.arm_names), "synthetic_cap": self.synthetic_cap, "equal_share": self.equal_share,
                "strategy": self.strategy, "precision": self.precision, "external": [str(spec) for spec in self.external],
                "backbone": self.backbone, "weights": self.weights, "freeze_epochs": self.freeze_epochs,
                "shift_suite": self.shift_suite, "workers": self.workers}
