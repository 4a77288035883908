"""A model's forward pass in inference mode as a traced function, one per model (and key), kept while the model lives.

Shared by the classifier's scoring (`classifier.train.run_in_batches`) and the generators' sampling
(`gan.sample.generate_from_latents`): a traced call takes about three quarters of the CPU of the eager `model(x)` on
one thread (benchmarks/README.md, "Inference traced once per model").

**Max pooling first.** In a model whose layers form one chain (the CNN: convolution, batch normalization, ReLU, max
pooling, in each block), the traced pass pools a block's convolution output before its batch normalization and ReLU
rather than after: the same outputs to the bit, with the per-element layers run on a quarter of the values. It is
exact because each of those layers maps every value through a function that never decreases (a batch normalization in
inference, x * a + b with a = gamma / sqrt(variance + epsilon), when every gamma is positive; ReLU and LeakyReLU
always), each value on its own, rounding included: then the largest output of a pooling window is the output of the
window's largest input. Batch normalization with a gamma that is not positive (or a variance that is not) keeps Keras'
order, decided in the graph batch by batch, so any weights give Keras' own outputs (tests/test_runtime_inference.py).
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


class _PoolingFirst:
    """`_Forward` of a chain of layers, each max pooling run before the per-element layers that precede it
    (`pooling_first_plan`). The plan is made at tracing, from the model, so nothing here holds a layer."""

    def __init__(self, model):
        self.model = weakref.ref(model)

    def __call__(self, inputs):
        import tensorflow as tf

        x = inputs
        for step in pooling_first_plan(self.model()):
            if not isinstance(step, tuple):
                x = step(x, training=False)
                continue
            run, pooling = step
            exact = _increasing(run)
            if exact is None:
                x = _through([pooling, *run], x)
            else:
                x = tf.cond(exact, lambda x=x, moved=[pooling, *run]: _through(moved, x), lambda x=x, kept=[*run, pooling]: _through(kept, x))
        return x


def _through(layers, x):
    """`x` through `layers` in order, in inference mode."""
    for layer in layers:
        x = layer(x, training=False)
    return x


def _chain(model) -> list | None:
    """The model's layers in order when each reads the output of the one before, from the model's one input to its one
    output; None for any other graph (branches, several inputs, a layer called twice)."""
    import keras

    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        return None
    if not isinstance(model, keras.Model) or len(inputs) != 1 or len(outputs) != 1:
        return None
    chain, tensor = [], inputs[0]
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            if layer.input is not tensor:
                return None
            tensor = layer.output
        except (AttributeError, ValueError):
            return None
        chain.append(layer)
    return chain if chain and tensor is outputs[0] else None


def _per_element(layer) -> bool:
    """Whether `layer` in inference maps each value on its own through a function that never decreases (batch
    normalization only where `_increasing` says so, in the graph)."""
    import keras

    from .batch_norm import FusedBatchNormalization

    if type(layer) in (keras.layers.BatchNormalization, FusedBatchNormalization):
        return layer.axis in (-1, 3) and len(layer.input.shape) == 4
    if type(layer) is keras.layers.ReLU:
        return True
    return type(layer) is keras.layers.LeakyReLU and layer.negative_slope >= 0


def pooling_first_plan(model) -> list:
    """The layers of `model` to run in order, each run of per-element layers followed by a channels-last max pooling
    given as a (run, pooling) pair to run pooling first; [] when `model` is not a chain or has no such run."""
    import keras

    chain = _chain(model)
    if chain is None:
        return []
    plan, start, moved = [], 0, False
    for index, layer in enumerate(chain):
        if type(layer) is keras.layers.MaxPooling2D and layer.data_format == "channels_last":
            first = index
            while first > start and _per_element(chain[first - 1]):
                first -= 1
            if first < index:
                plan.extend(chain[start:first])
                plan.append((chain[first:index], layer))
                start, moved = index + 1, True
    plan.extend(chain[start:])
    return plan if moved else []


def _increasing(run):
    """A scalar boolean tensor: whether every batch normalization of `run` multiplies by a positive factor on every
    channel (gamma > 0, variance + epsilon > 0), so that each value's function never decreases; None when `run` has
    none."""
    import keras
    import tensorflow as tf

    checks = []
    for layer in run:
        if isinstance(layer, keras.layers.BatchNormalization):
            checks.append(tf.reduce_all(tf.cast(layer.moving_variance, "float32") + layer.epsilon > 0))
            if layer.scale:
                checks.append(tf.reduce_all(tf.cast(layer.gamma, "float32") > 0))
    return tf.reduce_all(tf.stack(checks)) if checks else None


def inference_function(model, key=None, **options):
    """The traced `model(inputs, training=False)` for `key` (e.g. the input shape), made with `tf.function(**options)`
    at the first call and reused while `model` lives; called with the model's inputs as positional arguments. A chain
    with max pooling after per-element layers (the CNN) pools first, to the same outputs (see the module's note)."""
    import tensorflow as tf

    functions = _functions.setdefault(model, {})
    function = functions.get(key)
    if function is None:
        forward = _PoolingFirst(model) if pooling_first_plan(model) else _Forward(model)
        function = functions[key] = tf.function(forward, **options)
    return function
