"""DICOM input: tiny files written with pydicom from known 8-bit pixels, read back through the loader."""

import logging
import subprocess
import sys

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.encaps import encapsulate  # noqa: E402
from pydicom.uid import (ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless,  # noqa: E402
                         SecondaryCaptureImageStorage, generate_uid)

from xgan.cli import cli  # noqa: E402
from xgan.datasets.dataset import load_dataset  # noqa: E402
from xgan.datasets.dicom import apply_window, decode_dicom  # noqa: E402
from xgan.datasets.images import read_gray  # noqa: E402
from xgan.datasets.splits import resolve_splits  # noqa: E402

from conftest import synthetic_xray  # noqa: E402


def png_pixels(seed: int = 0, size: int = 16) -> np.ndarray:
    """8-bit pixels spanning 0..255 exactly, so scaling by the maximum is the identity."""
    image = synthetic_xray(np.random.default_rng(seed), size, bright=True)
    image[0, 0], image[0, 1] = 0, 255
    return image


def write_dicom(path, stored: np.ndarray, *, bits_stored: int = 8, photometric: str = "MONOCHROME2",
                patient_id: str | None = "P1", window=None, rescale=None, pixels: bool = True, syntax=None):
    """Write a minimal secondary-capture DICOM holding `stored` as its stored values.

    Args:
        window: (centers, widths), each a number or a list (several windows).
        rescale: (slope, intercept) of the modality LUT.
        syntax: a transfer syntax to compress to (pydicom's encoders), else explicit VR little endian.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    dataset.Modality = "DX"
    if patient_id is not None:
        dataset.PatientID = patient_id
    if pixels:
        allocated = 8 if bits_stored <= 8 else 16
        dataset.Rows, dataset.Columns = stored.shape
        dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, photometric
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = allocated, bits_stored, bits_stored - 1
        dataset.PixelRepresentation = 0
        dataset.PixelData = stored.astype(np.uint8 if allocated == 8 else np.uint16).tobytes()
    if window is not None:
        dataset.WindowCenter, dataset.WindowWidth = window
    if rescale is not None:
        dataset.RescaleSlope, dataset.RescaleIntercept = rescale
    if syntax is not None:
        dataset.compress(syntax)
    dataset.save_as(path, enforce_file_format=True)
    return path


# A LINEAR window whose output is stored / 4080: the 12-bit values 16 * p map back onto p exactly.
FULL_WINDOW = (2040.5, 4081)


@pytest.mark.parametrize("case", ["8-bit", "12-bit", "12-bit MONOCHROME1", "12-bit window", "12-bit MONOCHROME1 window",
                                  "two windows, first used", "modality rescale then window", "RLE lossless"])
def test_dicom_pixels_match_the_png_they_came_from(tmp_path, case):
    png = png_pixels()
    cv2.imwrite(str(tmp_path / "source.png"), png)
    twelve = png.astype(np.uint16) * 16
    options = {
        "8-bit": dict(stored=png),
        "12-bit": dict(stored=twelve, bits_stored=12),
        "12-bit MONOCHROME1": dict(stored=(255 - png.astype(np.uint16)) * 16, bits_stored=12, photometric="MONOCHROME1"),
        "12-bit window": dict(stored=twelve, bits_stored=12, window=FULL_WINDOW),
        "12-bit MONOCHROME1 window": dict(stored=(255 - png.astype(np.uint16)) * 16, bits_stored=12,
                                          photometric="MONOCHROME1", window=FULL_WINDOW),
        "two windows, first used": dict(stored=twelve, bits_stored=12, window=([2040.5, 100], [4081, 50])),
        "modality rescale then window": dict(stored=png.astype(np.uint16) * 8 + 1000, bits_stored=12,
                                             rescale=(2, -2000), window=FULL_WINDOW),
        "RLE lossless": dict(stored=twelve, bits_stored=12, photometric="MONOCHROME1", syntax=RLELossless),
    }[case]
    if case == "RLE lossless":
        options["stored"] = (255 - png.astype(np.uint16)) * 16
    path = write_dicom(tmp_path / "image.dcm", **options)
    np.testing.assert_array_equal(read_gray(path), read_gray(tmp_path / "source.png"))


def test_a_narrow_window_clips_below_and_above(tmp_path):
    stored = np.array([[0, 1000, 2000], [3000, 4000, 4095]], np.uint16)
    path = write_dicom(tmp_path / "w.dcm", stored, bits_stored=12, window=(2000.5, 1001))
    np.testing.assert_array_equal(read_gray(path), [[0, 0, 128], [255, 255, 255]])


@pytest.mark.parametrize("function, expected", [("LINEAR", [0.0, 0.5, 1.0]), ("LINEAR_EXACT", [0.0, 0.5, 1.0]),
                                                 ("SIGMOID", [1 / (1 + np.exp(2.0)), 0.5, 1 / (1 + np.exp(-2.0))])])
def test_window_functions(function, expected):
    np.testing.assert_allclose(apply_window(np.array([0.0, 100.0, 200.0]), 100.0, 200.0, function), expected, atol=3e-3)


def test_window_function_errors_name_the_value():
    with pytest.raises(ValueError, match="unknown DICOM VOI LUT Function 'GAMMA'"):
        apply_window(np.zeros(2), 1, 2, "GAMMA")
    with pytest.raises(ValueError, match="at least 1 for LINEAR; found 0.5"):
        apply_window(np.zeros(2), 1, 0.5)


def test_jpeg2000_decodes_when_its_plugin_is_installed(tmp_path):
    pytest.importorskip("openjpeg")
    png = png_pixels(1, size=64)  # OpenJPEG's default of six resolutions needs more than 32 px
    path = write_dicom(tmp_path / "j2k.dcm", png.astype(np.uint16) * 16, bits_stored=12, syntax=JPEG2000Lossless)
    assert str(pydicom.dcmread(path).file_meta.TransferSyntaxUID) == JPEG2000Lossless
    np.testing.assert_array_equal(read_gray(path), png)


@pytest.fixture
def dicom_folder(tmp_path):
    """Three classes of 16x16 DICOMs: MONOCHROME1 and 2, 8- and 12-bit, with and without a window,
    suffix-less files with the DICM preamble, one PatientID per two images."""
    root = tmp_path / "dicoms"
    counts = {"covid": 6, "normal": 12, "pneumonia": 8}
    index = 0
    for label, count in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(count):
            png = png_pixels(index)
            variant = index % 4
            name = f"{label}_{i:02d}.dcm" if variant != 3 else f"1.2.826.0.1.{index}"  # a UID-named file, no .dcm
            stored = (255 - png.astype(np.uint16)) * 16 if variant == 1 else png.astype(np.uint16) * 16
            write_dicom(root / label / name, png if variant == 0 else stored, bits_stored=8 if variant == 0 else 12,
                        photometric="MONOCHROME1" if variant == 1 else "MONOCHROME2",
                        window=FULL_WINDOW if variant == 2 else None, patient_id=f"{label}-{i // 2}")
            index += 1
    return root


def test_a_dicom_folder_loads_with_patient_ids(dicom_folder, tmp_path):
    dataset = load_dataset(dicom_folder, size=8)
    assert dataset.class_counts() == {"covid": 6, "normal": 12, "pneumonia": 8}
    assert not dataset.skipped
    assert dataset.images.shape == (26, 8, 8)
    assert {r.patient_id for r in dataset.records if r.label == "covid"} == {"covid-0", "covid-1", "covid-2"}
    assignments = resolve_splits(dataset, tmp_path / "splits.json").assignments
    for patient in {r.patient_id for r in dataset.records}:
        assert len({assignments[r.key] for r in dataset.records if r.patient_id == patient}) == 1


def test_a_manifest_patient_id_wins_over_the_dicom_one(tmp_path):
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(2):
            write_dicom(tmp_path / label / f"{i}.dcm", png_pixels(i), patient_id="from-file")
    (tmp_path / "manifest.csv").write_text("file,label,patient_id\na/0.dcm,a,m1\na/1.dcm,a,\nb/0.dcm,b,m2\nb/1.dcm,b,m3\n")
    patients = {r.key: r.patient_id for r in load_dataset(tmp_path).records}
    assert patients == {"a/0.dcm": "m1", "a/1.dcm": "from-file", "b/0.dcm": "m2", "b/1.dcm": "m3"}


def test_dicoms_without_an_image_or_undecodable_are_skipped_and_counted(dicom_folder, caplog):
    write_dicom(dicom_folder / "covid" / "report.dcm", None, pixels=False)
    broken = write_dicom(dicom_folder / "covid" / "broken.dcm", png_pixels(), syntax=RLELossless)
    damaged = pydicom.dcmread(broken)
    damaged.PixelData = encapsulate([b"\xff" * 64])  # an RLE header announcing 2**32 - 1 segments
    damaged.save_as(broken)
    (dicom_folder / "normal" / "garbage.dcm").write_bytes(b"not a dicom at all")
    with caplog.at_level(logging.WARNING, logger="xgan"):
        dataset = load_dataset(dicom_folder)
    assert dataset.class_counts() == {"covid": 6, "normal": 12, "pneumonia": 8}
    reasons = dict(dataset.skipped)
    assert set(reasons) == {"covid/report.dcm", "covid/broken.dcm", "normal/garbage.dcm"}
    assert "holds no image" in reasons["covid/report.dcm"]
    assert "cannot decode DICOM pixels (RLE Lossless)" in reasons["covid/broken.dcm"]
    assert "skipped 3 file(s)" in caplog.text


def test_decode_dicom_rejects_empty_bytes():
    with pytest.raises(ValueError, match="empty file"):
        decode_dicom(b"")


def test_info_counts_the_classes_of_a_dicom_folder(dicom_folder):
    result = CliRunner().invoke(cli, ["info", str(dicom_folder)])
    assert result.exit_code == 0, result.output
    for label, count in (("covid", 6), ("normal", 12), ("pneumonia", 8)):
        assert any(line.split()[:2] == [label, str(count)] for line in result.output.splitlines()), result.output


def test_a_truncated_png_gives_one_warning_line_xgans(folder_dataset):
    """OpenCV's own "[ WARN:0@...] grfmt_png.cpp" line must not reach the terminal beside xgan's."""
    (folder_dataset / "covid" / "cut.png").write_bytes((folder_dataset / "covid" / "covid_000.png").read_bytes()[:200])
    code = "from xgan.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, "info", str(folder_dataset)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "WARN:" not in result.stderr and "grfmt" not in result.stderr
    assert [line for line in result.stderr.splitlines() if "cut.png" in line] == [f"WARNING: skipping {folder_dataset / 'covid' / 'cut.png'}: not a readable image (corrupt, truncated or unsupported format)"]


def test_classify_evaluate_and_predict_on_a_three_class_dicom_folder(dicom_folder, tmp_path):
    """The issue's "done when": three DICOM class folders through classify (softmax), evaluate and predict."""
    runner = CliRunner()
    result = runner.invoke(cli, ["classify", "--data", str(dicom_folder), "--size", "16", "--epochs", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "per class (one vs rest): covid sensitivity" in result.output
    run_dir = next(tmp_path.glob("*-classify-baseline"))
    header = (run_dir / "predictions.csv").read_text().splitlines()[0]
    assert header == "key,label,predicted,probability_covid,probability_normal,probability_pneumonia"
    evaluated = runner.invoke(cli, ["evaluate", "--model", str(run_dir), "--data", str(dicom_folder), "--out", str(tmp_path / "eval")])
    assert evaluated.exit_code == 0, evaluated.output
    assert "macro averages" in evaluated.output and (tmp_path / "eval" / "roc_curve.png").is_file()
    image = next((dicom_folder / "pneumonia").glob("1.2.826.*"))  # a suffix-less DICOM
    predicted = runner.invoke(cli, ["predict", "--model", str(run_dir), str(image)])
    assert predicted.exit_code == 0, predicted.output
    assert predicted.output.split()[1] in ("covid", "normal", "pneumonia")
