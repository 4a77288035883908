"""The TensorFlow runtime: distribution strategies, mixed precision, TensorFlow's start-up, TensorBoard logs, the worker
pool, traced inference (max pooling first in a chain of layers, the same outputs), and the fused batch normalization
layer that the GAN and the classifier's stand-in train with.

Nothing here imports TensorFlow at import time, each module importing it where it is first needed, except
`batch_norm.py`, which defines a Keras layer and is imported only by the modules that build networks.
"""
