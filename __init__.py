"""xgan: fight class imbalance in chest X-ray datasets with generated images, and measure honestly whether it helps."""

import os

__version__ = "0.1.0"

# Quiet TensorFlow's start-up chatter before any submodule imports it; a user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
