"""A model's forward pass in inference mode as a traced function, one per model (and key), kept while the model lives.

Shared by the classifier's scoring (`classifier.train.run_in_batches`) and the generators' sampling
(`gan.sample.generate_from_latents`): a traced call takes about three quarters of the CPU of the eager `model(x)` on
one thread (benchmarks/README.md, "Inference traced once per model").
"""

import weakref

# model -> {key: its traced function}; weak, so that a model's weights go with the model.
_functions: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class _Forward:
    """`model(inputs, training=False)` through a weak reference: a closure holding the model would keep every model
    alive through the cache. A callable object rather than a lambda: TensorFlow counts the traces of every function with
    the same code together, and warned of retracing after five models."""

    def __init__(self, model):
        self.model = weakref.ref(model)

    def __call__(self, *inputs):
        return self.model()(inputs[0] if len(inputs) == 1 else list(inputs), training=False)


def inference_function(model, key=None, **options):
    """The traced `model(inputs, training=False)` for `key` (e.g. the input shape), made with `tf.function(**options)`
    at the first call and reused while `model` lives; called with the model's inputs as positional arguments."""
    import tensorflow as tf

    functions = _functions.setdefault(model, {})
    function = functions.get(key)
    if function is None:
        function = functions[key] = tf.function(_Forward(model), **options)
    return function
