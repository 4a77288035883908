"""xgan: fight class imbalance in chest X-ray datasets with generated images, and measure honestly whether it helps."""

import os

__version__ = "0.1.0"

# Both settings are read once, when TensorFlow is first imported, so they are made here, before any
# submodule imports it; a user's own setting wins.
# Quiet TensorFlow's start-up chatter.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN's CPU kernels: TensorFlow turns them on by itself only on CPUs with AVX-512 VNNI or newer;
# on an AVX2 CPU they halve the CPU time of a DCGAN training step (benchmarks/README.md). Set
# TF_ENABLE_ONEDNN_OPTS=0 to run TensorFlow's own kernels.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
