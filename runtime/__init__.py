"""The TensorFlow runtime: distribution strategies, mixed precision, TensorFlow's start-up and TensorBoard logs.

Nothing here imports TensorFlow at import time; each module imports it where it is first needed.
"""
