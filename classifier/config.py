"""The classifier's configuration: one dataclass, validated on construction, saved as JSON in every run."""

from dataclasses import asdict, dataclass, field, fields

from ..errors import invalid_argument
from ..runtime.precision import check_precision
from .backbones import CNN, check_backbone, check_weights, is_pretrained, minimum_size

# The study this follows trained with SGD, momentum 5/6, learning rate 1e-4 with decay and batch 40.
# Those values are kept here (`ClassifierConfig.study()`); the defaults differ where a measurement
# showed the study's optimizer too slow for a few-minute run (see README / classifier report).
STUDY_OPTIMIZER = {"optimizer": "sgd", "learning_rate": 1e-4, "momentum": 5 / 6, "lr_decay": 1e-6, "batch_size": 40}

OPTIMIZERS = ("sgd", "adam")


def optimizer_defaults(optimizer: str) -> dict:
    """The learning rate and decay an optimizer gets unless told: the study's for "sgd", the config's defaults otherwise.

    So `--optimizer sgd` alone reproduces the study's optimizer; an unknown name is refused by `ClassifierConfig`.
    """
    source = STUDY_OPTIMIZER if optimizer == "sgd" else {f.name: f.default for f in fields(ClassifierConfig)}
    return {"learning_rate": source["learning_rate"], "lr_decay": source["lr_decay"]}
MONITORS = ("val_auc", "val_loss")
SCHEDULES = ("constant", "cosine", "plateau")


@dataclass
class ClassifierConfig:
    """Everything needed to rebuild and retrain the classifier.

    The network (`backbone` "cnn"): `len(conv_filters)` convolution blocks (Conv 3x3 -> BatchNorm -> activation ->
    MaxPool), then `len(dense_units)` hidden dense layers with dropout and one sigmoid output unit:
    with the defaults three convolution blocks and three dense layers, the study's best. With three
    or more `class_names` the output is a softmax over them instead (no positive class). Another
    `backbone` replaces the convolution blocks by a keras.applications family (`backbones.py`),
    global average pooling and the same dense layers; `conv_filters` is then unused.
    """

    image_size: int = 64  # input side in pixels: the GAN's 64; 28 for PneumoniaMNIST
    conv_filters: tuple[int, ...] = (16, 32, 64)  # filters of each convolution block
    dense_units: tuple[int, ...] = (128, 64)  # hidden dense layers; the output unit is the third dense layer
    dropout: float = 0.5  # after every hidden dense layer
    leaky_relu_slope: float = 0.1  # negative slope of the LeakyReLU activations
    augment: bool = False  # classic augmentation layers (small rotation, shift, zoom, contrast) in front
    optimizer: str = "adam"  # "adam" or the study's "sgd"
    learning_rate: float = 1e-3  # the study: 1e-4 (with SGD)
    momentum: float = 5 / 6  # SGD momentum (the study's 5/6); unused by adam
    lr_decay: float = 0.0  # Keras-legacy inverse time decay per step: lr / (1 + lr_decay * step)
    schedule: str = "constant"  # "constant" (with lr_decay), "cosine" (to 0 over `epochs`) or "plateau" (halved after 3 flat val_loss epochs)
    label_smoothing: float = 0.0  # binary cross-entropy against targets pulled this far towards 0.5
    batch_size: int = 40  # the study's batch size
    epochs: int = 30  # upper bound; early stopping usually ends sooner
    patience: int = 8  # epochs without improvement of `monitor` before stopping (best weights restored)
    monitor: str = "val_auc"  # "val_auc" (maximized) or "val_loss" (minimized) on the real validation split
    seed: int = 0  # weights, dropout, augmentation and shuffling
    target_sensitivity: float | None = None  # decision threshold: None picks Youden's J on validation, else the highest reaching this sensitivity
    class_names: list[str] = field(default_factory=list)  # set from the data: sorted class names
    positive_class: str | None = None  # the class the sigmoid output scores (two classes only); default the minority
    precision: str = "float32"  # "float32", or "mixed": float16 computation, float32 weights and output (for GPUs; see precision.py)
    backbone: str = CNN  # "cnn" (the study's CNN) or a keras.applications family of backbones.BACKBONES
    weights: str = "none"  # the backbone's starting weights: "none" (from scratch), "imagenet", or a .h5 weights file of the family
    freeze_epochs: int = 0  # pretrained weights: epochs of the new head alone (backbone frozen) before the whole network trains

    def __post_init__(self):
        self.conv_filters = tuple(int(f) for f in self.conv_filters)
        self.dense_units = tuple(int(u) for u in self.dense_units)
        self.class_names = list(self.class_names)
        if not isinstance(self.image_size, int) or self.image_size < 8:
            raise invalid_argument("image_size", "an integer of at least 8", self.image_size)
        if not self.conv_filters or min(self.conv_filters) < 1:
            raise invalid_argument("conv_filters", "one or more positive filter counts", self.conv_filters)
        check_backbone(self.backbone)
        if self.image_size < minimum_size(self.backbone):
            raise invalid_argument("image_size", f"at least {minimum_size(self.backbone)} px for backbone {self.backbone} (option --size)", self.image_size)
        check_weights(self.weights, self.backbone)
        if isinstance(self.freeze_epochs, bool) or not isinstance(self.freeze_epochs, int) or self.freeze_epochs < 0:
            raise invalid_argument("freeze_epochs", "a non-negative integer (option --freeze-epochs)", self.freeze_epochs)
        if self.freeze_epochs and not is_pretrained(self.weights):
            raise invalid_argument("freeze_epochs", "0 with weights 'none' (a backbone trained from scratch has no features to keep; "
                                   "freeze with --weights imagenet or FILE)", self.freeze_epochs)
        if self.backbone == CNN and self.image_size >> len(self.conv_filters) < 1:
            raise invalid_argument("conv_filters", f"at most {self.image_size.bit_length() - 1} blocks for {self.image_size}-px images (each halves the size)", self.conv_filters)
        if any(u < 1 for u in self.dense_units):
            raise invalid_argument("dense_units", "positive unit counts", self.dense_units)
        if not 0 <= self.dropout < 1:
            raise invalid_argument("dropout", "a float in [0, 1)", self.dropout)
        if self.leaky_relu_slope < 0:
            raise invalid_argument("leaky_relu_slope", "a non-negative float", self.leaky_relu_slope)
        if self.optimizer not in OPTIMIZERS:
            raise invalid_argument("optimizer", f"one of {OPTIMIZERS}", self.optimizer)
        if not self.learning_rate > 0:
            raise invalid_argument("learning_rate", "a positive float", self.learning_rate)
        if not 0 <= self.momentum < 1:
            raise invalid_argument("momentum", "a float in [0, 1)", self.momentum)
        if self.lr_decay < 0:
            raise invalid_argument("lr_decay", "a non-negative float", self.lr_decay)
        if self.schedule not in SCHEDULES:
            raise invalid_argument("schedule", f"one of {SCHEDULES}", self.schedule)
        if self.schedule != "constant" and self.lr_decay > 0:
            raise invalid_argument("lr_decay", f"0 with schedule {self.schedule!r} (the decay belongs to the constant schedule)", self.lr_decay)
        if not 0 <= self.label_smoothing < 1:
            raise invalid_argument("label_smoothing", "a float in [0, 1)", self.label_smoothing)
        if self.target_sensitivity is not None and not 0 < self.target_sensitivity <= 1:
            raise invalid_argument("target_sensitivity", "None or a float in (0, 1]", self.target_sensitivity)
        for name in ("batch_size", "epochs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise invalid_argument(name, "a positive integer", getattr(self, name))
        if not isinstance(self.patience, int) or self.patience < 0:
            raise invalid_argument("patience", "a non-negative integer", self.patience)
        if self.monitor not in MONITORS:
            raise invalid_argument("monitor", f"one of {MONITORS}", self.monitor)
        if self.class_names and (len(self.class_names) < 2 or len(set(self.class_names)) != len(self.class_names)):
            raise invalid_argument("class_names", "two or more distinct class names", self.class_names)
        if self.positive_class is not None and self.class_names and self.positive_class not in self.class_names:
            raise invalid_argument("positive_class", f"one of {self.class_names}", self.positive_class)
        if self.positive_class is not None and self.is_multiclass:
            raise invalid_argument("positive_class", f"None with {len(self.class_names)} classes (a softmax over all of them has no positive class)", self.positive_class)
        check_precision(self.precision)

    @classmethod
    def study(cls, **overrides) -> "ClassifierConfig":
        """The study's optimizer settings (SGD, momentum 5/6, lr 1e-4 with decay, batch 40)."""
        return cls(**{**STUDY_OPTIMIZER, **overrides})

    @property
    def is_multiclass(self) -> bool:
        """Three or more classes: a softmax output over `class_names`, not one sigmoid unit."""
        return len(self.class_names) > 2

    @property
    def num_outputs(self) -> int:
        """Output units: 1 (the positive class's probability) for two classes, one per class otherwise."""
        return len(self.class_names) if self.is_multiclass else 1

    @property
    def negative_class(self) -> str | None:
        """The class that is not the positive one."""
        if not self.class_names or self.positive_class is None:
            return None
        return next(name for name in self.class_names if name != self.positive_class)

    def to_dict(self) -> dict:
        """Plain JSON-ready values (tuples become lists)."""
        data = asdict(self)
        data["conv_filters"], data["dense_units"] = list(self.conv_filters), list(self.dense_units)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ClassifierConfig":
        """Rebuild from `to_dict()` output, ignoring keys that are not fields (run metadata)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
