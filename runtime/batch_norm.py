"""Batch normalization whose training pass is TensorFlow's fused kernel: the GAN's layers, and the classifier's stand-in.

Keras 3's `BatchNormalization` trains through separate operations (the batch's mean, its squared differences and
their mean, then the normalization, each a pass over the whole activation, and as many again backward). At the
sizes xgan trains (32-64 px, a few dozen images per batch, 16-128 channels) those passes cost about as much as the
convolutions: in the study's classifier they were 41-47% of a training step's op time (benchmarks/README.md, "Fused
batch normalization in the classifier's training"). TensorFlow's fused kernel (oneDNN's on CPU) does it in one pass
forward and one backward.

Unlike the rest of `runtime/`, this module imports Keras and TensorFlow when it is imported: it defines a layer.
"""

import keras
import tensorflow as tf
from keras import layers


class FusedBatchNormalization(layers.BatchNormalization):
    """Keras batch normalization whose training pass is TensorFlow's fused kernel.

    Same variables, same results (up to float rounding) and the same inference pass as
    `keras.layers.BatchNormalization`, whose training pass is several separate operations; the fused
    kernel (oneDNN's on CPU) does it in one pass forward and one backward, which makes a training step
    of a small convolutional network markedly faster on CPU.
    """

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and mask is None and len(inputs.shape) == 4 and self.axis in (-1, 3)
                and not self.renorm):
            return super().call(inputs, training=training, mask=mask)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            # Under a tf.distribute strategy: statistics of the global batch (all-reduced over
            # replicas), so R replicas normalise as one device does. In float32 under mixed precision,
            # as the fused kernel does, since gamma and beta are float32.
            values = tf.cast(inputs, "float32")
            mean, variance = keras.ops.moments(values, axes=[0, 1, 2], synchronized=True)
            outputs = tf.cast(tf.nn.batch_normalization(values, mean, variance, self.beta, self.gamma, self.epsilon), inputs.dtype)
        else:
            outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True)[:3]
            # The fused kernel returns the unbiased variance; keras averages the biased one.
            count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:3]), variance.dtype)
            variance = variance * (count - 1.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return outputs
