"""Image and dataset loading: decoding (OpenCV, DICOM), the decode cache, datasets, splits and their summary.

The lowest layer above the shared helpers: it imports none of xgan's other packages.
"""
