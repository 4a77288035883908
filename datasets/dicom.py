"""Reading DICOM radiographs with pydicom into the same 8-bit gray pixels as every other format.

The display pipeline of DICOM PS3.3 C.11, in its order: stored values, the modality LUT (rescale slope
and intercept, or a Modality LUT Sequence), the VOI LUT or window (the first when a file offers
several), then MONOCHROME1 inverted so that bone is bright, as in a PNG. A file without a window is
scaled as a 16-bit PNG is (by its maximum, or min-max when it holds negative values).

Compressed transfer syntaxes are decoded by whatever pydicom finds installed: RLE Lossless with numpy
alone; JPEG, JPEG-LS and JPEG 2000 with the optional `pylibjpeg` plugins (`pip install xgan[dicom]`) or
Pillow. A syntax that no installed package decodes makes the file unreadable (skipped and counted).
"""

import warnings
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np

from .pixels import to_gray_uint8

DICOM_SUFFIXES = frozenset({".dcm", ".dicom"})
PREAMBLE_LENGTH = 128
MAGIC = b"DICM"
PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


@dataclass(frozen=True)
class DicomImage:
    """The displayed pixels of a DICOM file and the patient it belongs to.

    Attributes:
        pixels: (H, W) uint8, after the modality and VOI transforms, MONOCHROME1 inverted.
        patient_id: (0010,0020) Patient ID, or None when the file has none.
    """

    pixels: np.ndarray
    patient_id: str | None


def has_dicom_preamble(head: bytes) -> bool:
    """True when the first bytes of a file are a DICOM Part 10 header (128-byte preamble, then "DICM")."""
    return head[PREAMBLE_LENGTH:PREAMBLE_LENGTH + len(MAGIC)] == MAGIC


def is_dicom_file(path: Path) -> bool:
    """True for a `.dcm`/`.dicom` file, or any other file whose first 132 bytes carry the DICM preamble."""
    path = Path(path)
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as handle:
            return has_dicom_preamble(handle.read(PREAMBLE_LENGTH + len(MAGIC)))
    except OSError:
        return False


def read_dicom(path: Path) -> DicomImage:
    """Read one DICOM file; ValueError when it holds no image or its pixels cannot be decoded."""
    return decode_dicom(Path(path).read_bytes())


def decode_dicom(data: bytes) -> DicomImage:
    """Decode the bytes of a DICOM file into displayed 8-bit gray pixels and its Patient ID.

    Raises:
        ValueError: empty or unparsable bytes, no pixel data, or a transfer syntax that no installed
            decoder handles (the message names it).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not data:
        raise ValueError("empty file")
    # pydicom warns (Python warnings and its own log) about damaged files; xgan writes one line per bad file
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # force: a few writers omit the preamble; what is not DICOM then fails below for want of pixels
            dataset = pydicom.dcmread(BytesIO(data), force=not has_dicom_preamble(data))
        except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, OSError) as error:
            raise ValueError(f"not a readable DICOM file ({_one_line(error)})") from None
        if not any(keyword in dataset for keyword in PIXEL_DATA_KEYWORDS):
            if not has_dicom_preamble(data) and not dataset.get("SOPClassUID"):
                raise ValueError("not a DICOM file (no DICM preamble, no SOP class, no pixel data)")
            problem = f"; {_one_line(caught[0].message)}" if caught else ""
            raise ValueError(f"DICOM file holds no image (no Pixel Data{problem})")
        try:
            stored = dataset.pixel_array
        except Exception as error:  # pydicom raises many types for missing decoders and damaged data
            syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
            name = getattr(syntax, "name", None) or "unknown transfer syntax"
            raise ValueError(f"cannot decode DICOM pixels ({name}): {_one_line(error)}") from None
    return DicomImage(display_pixels(stored, dataset), _patient_id(dataset))


def display_pixels(stored: np.ndarray, dataset) -> np.ndarray:
    """Stored DICOM pixel values to displayed (H, W) uint8: modality LUT, first VOI LUT or window, MONOCHROME1 inverted.

    Args:
        stored: `pixel_array` of `dataset`; the first frame is used when it holds several.
        dataset: the pydicom dataset the pixels came from.
    """
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi

    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    samples = int(dataset.get("SamplesPerPixel", 1))
    if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
        stored = stored[0]
    if photometric == "PALETTE COLOR":
        stored, samples = apply_color_lut(stored, dataset), 3
    if samples > 1:  # pydicom returns colour as RGB; the gray conversion expects OpenCV's BGR
        return to_gray_uint8(np.ascontiguousarray(stored[..., ::-1]))
    if stored.ndim != 2:
        raise ValueError(f"DICOM pixels have shape {stored.shape}; expected one 2-D gray image")
    values = apply_modality_lut(stored, dataset).astype(np.float64)
    if "VOILUTSequence" in dataset:
        depth = int(dataset.VOILUTSequence[0].LUTDescriptor[2]) or 16
        values = apply_voi(values, dataset, index=0).astype(np.float64)
        shown = values / max(2.0**depth - 1, float(values.max()), 1.0)
    elif "WindowCenter" in dataset and "WindowWidth" in dataset:
        shown = apply_window(values, _first(dataset.WindowCenter), _first(dataset.WindowWidth),
                             str(dataset.get("VOILUTFunction", "LINEAR")).upper())
    else:
        unchanged = stored.dtype == np.uint8 and np.array_equal(values, stored)
        gray = to_gray_uint8(stored if unchanged else values)
        return 255 - gray if photometric == "MONOCHROME1" else gray
    if photometric == "MONOCHROME1":
        shown = 1.0 - shown
    return np.round(np.clip(shown, 0.0, 1.0) * 255).astype(np.uint8)


def apply_window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """A DICOM window (PS3.3 C.11.2.1.2) mapping modality values onto [0, 1].

    Args:
        values: modality-LUT output.
        center, width: Window Center and Window Width.
        function: VOI LUT Function: LINEAR (the default), LINEAR_EXACT or SIGMOID.

    Raises:
        ValueError: a width below 1 (LINEAR) or not positive, or an unknown function.
    """
    values = np.asarray(values, np.float64)
    if function == "LINEAR":
        if width < 1:
            raise ValueError(f"DICOM Window Width must be at least 1 for LINEAR; found {width}")
        return np.clip(((values - (center - 0.5)) / (width - 1)) + 0.5, 0.0, 1.0) if width > 1 else (values > center - 0.5).astype(np.float64)
    if width <= 0:
        raise ValueError(f"DICOM Window Width must be positive; found {width}")
    if function == "LINEAR_EXACT":
        return np.clip((values - center) / width + 0.5, 0.0, 1.0)
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    raise ValueError(f"unknown DICOM VOI LUT Function {function!r}; expected LINEAR, LINEAR_EXACT or SIGMOID")


def _first(value) -> float:
    """The first of a multi-valued DICOM element (several windows), as a float."""
    try:
        return float(value[0])
    except TypeError:
        return float(value)


def _patient_id(dataset) -> str | None:
    value = str(dataset.get("PatientID", "") or "").strip()
    return value or None


def _one_line(error, limit: int = 300) -> str:
    """An exception or warning message on one line (pydicom's list one decoder per line)."""
    text = " ".join(part.strip() for part in str(error).splitlines() if part.strip()) or type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."
