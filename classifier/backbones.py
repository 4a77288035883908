"""Transfer-learning backbones beside the study's CNN: the Keras applications families, their input sizes and weights.

A backbone classifier takes the same raw 0-255 gray pixels as the CNN: the gray channel is repeated into three
equal channels (a Concatenate layer), then each family's own ImageNet preprocessing runs inside the model
(serializable Keras layers, no Lambda), so a saved model needs nothing beside it and loads in safe mode.

| family | keras.applications | preprocessing (of 0-255 RGB) |
| --- | --- | --- |
| vgg16, resnet50 | VGG16, ResNet50 | "caffe": the ImageNet channel means subtracted (the BGR flip is void on equal channels) |
| densenet121 | DenseNet121 | "torch": scaled to 0-1, ImageNet mean and standard deviation per channel |
| mobilenetv3small | MobileNetV3Small | its own Rescaling layers inside the application (include_preprocessing) |
| efficientnetb0 | EfficientNetB0 | its own Rescaling and Normalization layers inside the application |

Every family accepts 32 px and more without its classification top (Keras' `obtain_input_shape` refuses less).
"""

import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError, invalid_argument

CNN = "cnn"  # the study's own CNN (model.py), no pretrained weights
BACKBONE_LAYER = "backbone"  # the name of the nested application model inside a backbone classifier
WEIGHTS_IMAGENET, WEIGHTS_NONE = "imagenet", "none"
WEIGHTS_SUFFIX = ".h5"  # Keras weights files: `.weights.h5` (Keras 3's save_weights) or the legacy `.h5` (Keras' own downloads)
CNN_MIN_SIZE = 8

# ImageNet statistics of Keras' `imagenet_utils.preprocess_input`, on 0-255 pixels.
CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR order, as the caffe-trained weights' channels
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Family:
    """One keras.applications family: its constructor's name, the smallest input side and its preprocessing."""

    application: str  # attribute of keras.applications
    preprocessing: str  # "caffe", "torch" or "inside" (the application holds its own)
    min_size: int = 32


FAMILIES = {
    "vgg16": Family("VGG16", "caffe"),
    "resnet50": Family("ResNet50", "caffe"),
    "densenet121": Family("DenseNet121", "torch"),
    "mobilenetv3small": Family("MobileNetV3Small", "inside"),
    "efficientnetb0": Family("EfficientNetB0", "inside"),
}
BACKBONES = (CNN, *FAMILIES)


def check_backbone(backbone: str) -> None:
    """Raises UserError unless `backbone` is one of BACKBONES."""
    if backbone not in BACKBONES:
        raise invalid_argument("backbone", f"one of {', '.join(BACKBONES)} (option --backbone)", backbone)


def minimum_size(backbone: str) -> int:
    """The smallest image side in pixels the backbone accepts."""
    check_backbone(backbone)
    return CNN_MIN_SIZE if backbone == CNN else FAMILIES[backbone].min_size


def auto_size(backbone: str, data_size: int) -> int:
    """`--size auto`: the data's own classifier size (`data.default_image_size`), raised to the backbone's minimum.

    PneumoniaMNIST's 28 px become 32 for every pretrained family (its images are upsampled); 64 stays 64.
    """
    return max(int(data_size), minimum_size(backbone))


def is_pretrained(weights: str) -> bool:
    """True for ImageNet weights or a weights file: the backbone starts from learned features."""
    return weights != WEIGHTS_NONE


def check_weights(weights: str, backbone: str) -> None:
    """Raises UserError unless `weights` is "imagenet", "none" or the path of a .h5 weights file, and fits `backbone`.

    The file's existence and contents are checked where it is read (`load_weights_file`), so a saved
    config.json still loads on a machine without the file.
    """
    if not isinstance(weights, str) or not (weights in (WEIGHTS_IMAGENET, WEIGHTS_NONE) or weights.endswith(WEIGHTS_SUFFIX)):
        raise invalid_argument("weights", f"imagenet, none or a Keras weights file ending in {WEIGHTS_SUFFIX} (option --weights)", weights)
    if backbone == CNN and weights != WEIGHTS_NONE:
        raise UserError(f"--weights {weights}: the cnn backbone (the study's CNN) has no pretrained weights; use --weights none "
                        f"or a pretrained --backbone ({', '.join(FAMILIES)})")


def preprocessing_layers(backbone: str) -> list:
    """The layers that turn three-channel 0-255 pixels into what the family's weights expect (none where it holds its own)."""
    from keras import layers

    kind = FAMILIES[backbone].preprocessing
    if kind == "caffe":
        return [layers.Normalization(mean=CAFFE_MEAN, variance=(1.0, 1.0, 1.0), name="preprocess_caffe")]
    if kind == "torch":
        return [layers.Normalization(mean=tuple(255 * m for m in TORCH_MEAN), variance=tuple((255 * s) ** 2 for s in TORCH_STD),
                                     name="preprocess_torch")]
    return []


def build_backbone(backbone: str, image_size: int, weights: str):
    """The family's convolutional part (no classification top, no pooling) for (S, S, 3) inputs, named BACKBONE_LAYER.

    Args:
        weights: "none" (random initialization, seeded by `keras.utils.set_random_seed`), "imagenet"
            (downloaded through Keras, cached in ~/.keras/models) or a weights file of this family.

    Raises:
        UserError: an ImageNet download that failed, or a weights file missing or of another architecture.
    """
    import keras

    family = FAMILIES[backbone]
    constructor = getattr(keras.applications, family.application)
    options = {"include_top": False, "input_shape": (image_size, image_size, 3), "name": BACKBONE_LAYER}
    if family.application.startswith("MobileNetV3"):
        options["include_preprocessing"] = True
    if weights == WEIGHTS_IMAGENET:
        try:
            return constructor(weights=WEIGHTS_IMAGENET, **options)
        except Exception as error:  # keras.utils.get_file raises a bare Exception for a failed fetch
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise UserError(f"--weights imagenet: could not download the {backbone} ImageNet weights through Keras ({reason}); "
                            f"without network access use --weights none (from scratch) or --weights FILE (a {backbone} weights file)") from None
    model = constructor(weights=None, **options)
    if weights != WEIGHTS_NONE:
        load_weights_file(model, backbone, Path(weights))
    return model


def load_weights_file(model, backbone: str, path: Path) -> None:
    """Load a weights file into a freshly built backbone; refused in one line when it is missing or does not fit.

    Keras warns, rather than fails, on some parts of a file it cannot place (nested containers it does not
    find): those warnings refuse the file too, so no layer silently keeps its random weights.
    """
    if not path.is_file():
        raise UserError(f"--weights {path}: no such file; expected a {backbone} weights file ({WEIGHTS_SUFFIX}), imagenet or none")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
            failure = next((str(w.message) for w in caught if issubclass(w.category, UserWarning)), None)
        except Exception as error:  # h5py's OSError, Keras' ValueError for a mismatch, ...
            failure = str(error) or type(error).__name__
    if failure is not None:
        raise UserError(f"--weights {path}: not {backbone} weights without the classification top "
                        f"({failure.strip().splitlines()[0][:200]})")


# Fine-tuning after the head's stage: the whole network at a tenth of the learning rate, as the transfer studies do
# (Keras' guide lowers it further for ImageNet weights on large inputs; a tenth keeps the few epochs here moving).
FINE_TUNE_LEARNING_RATE_FACTOR = 0.1
DEFAULT_FREEZE_EPOCHS = 3  # head-only epochs of a pretrained backbone unless --freeze-epochs says otherwise
AUTO_SIZE = "auto"


def resolve_network_options(backbone: str, size, weights: str, freeze_epochs: int | None, data_size) -> tuple[int, str, int]:
    """The image size, weights and head-only epochs that `--backbone`, `--size`, `--weights` and `--freeze-epochs` say.

    Args:
        size: pixels, or None / "auto": `auto_size` of `data_size()` (called only then).
        freeze_epochs: None: DEFAULT_FREEZE_EPOCHS with pretrained weights, 0 from scratch.

    Raises:
        UserError: an unknown backbone or weights, a size below the backbone's minimum, a weights file that does not exist.
    """
    check_backbone(backbone)
    check_weights(weights, backbone)
    if size is None or size == AUTO_SIZE:
        size = auto_size(backbone, data_size())
    elif isinstance(size, bool) or not isinstance(size, int):
        raise invalid_argument("size", "a whole number of pixels or auto (option --size)", size)
    if size < minimum_size(backbone):
        raise UserError(f"--size {size}: the {backbone} backbone takes images of at least {minimum_size(backbone)} px; "
                        f"use --size {minimum_size(backbone)} or more, or --size auto")
    if weights not in (WEIGHTS_IMAGENET, WEIGHTS_NONE) and not Path(weights).is_file():
        raise UserError(f"--weights {weights}: no such file; expected a {backbone} weights file ({WEIGHTS_SUFFIX}), imagenet or none")
    if freeze_epochs is None:
        freeze_epochs = DEFAULT_FREEZE_EPOCHS if is_pretrained(weights) else 0
    return size, weights, freeze_epochs


def network_description(backbone: str, weights: str, freeze_epochs: int, size: int) -> str:
    """One line for reports: which network every model of a run is, at which size, from which weights."""
    if backbone == CNN:
        return f"cnn (the study's CNN, from scratch), {size} px"
    start = {WEIGHTS_NONE: "from scratch", WEIGHTS_IMAGENET: "ImageNet weights"}.get(weights, f"weights file {weights}")
    tuning = f", head alone for {freeze_epochs} epoch(s) then the whole network at the learning rate x {FINE_TUNE_LEARNING_RATE_FACTOR:g}" if freeze_epochs else ""
    return f"{backbone} (keras.applications, {start}{tuning}), {size} px, gray repeated into three channels"


def check_pretrained_weights(backbone: str, image_size: int, weights: str) -> None:
    """Build the backbone once with its pretrained weights before anything trains: a failed ImageNet download or a
    weights file that does not fit is refused in seconds (UserError), not after the first model's data is ready.

    Does nothing for the CNN or a backbone from scratch. The ImageNet file stays in Keras' cache for the models after.
    """
    if backbone == CNN or not is_pretrained(weights):
        return
    import keras

    build_backbone(backbone, image_size, weights)
    keras.backend.clear_session()
