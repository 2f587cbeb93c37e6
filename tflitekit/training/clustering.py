"""Cluster-preserving fine-tuning of a Keras model, for Keras 3 (what TensorFlow installs today).

What TensorFlow Model Optimization's weight clustering does for Keras 2, without wrapper layers:

1. :func:`cluster_weights` clones the model and replaces each Dense / Conv2D / DepthwiseConv2D
   kernel (biases untouched) by its k-means clustering (:class:`tflitekit.codecs.KMeans`,
   k-means++ seeding, then Lloyd's iterations): at most ``clusters`` distinct values per tensor,
   or per TFLite output channel;
2. :func:`fine_tune` trains another clone with the weights shared, as TFMOT trains: before each
   step every weight is assigned to its nearest centroid and the kernel is the centroids so
   gathered; the step's kernel gradient trains the centroids (a centroid's gradient is the sum
   of its members' gradients) and, passed straight through, the float weights behind the
   kernel, so a weight can move to another cluster. Every kernel keeps at most ``clusters``
   values per tensor or channel;
3. the result is a plain Keras model, ready for ``tflitekit.training.from_keras(model,
   representative_data=..., mode="int8")``: its int8 weights have at most ``clusters`` values
   per channel (per tensor when quantized per tensor) and compress losslessly to a
   ``ceil(log2(clusters))``-bit LUT (``tflitekit.passes.compress_weights(model, codec="lut")``).

TensorFlow is imported when these functions are called, not before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import codecs
from ..errors import UsageError
from ..interpreter import Progress
from ._tensorflow import tensorflow

__all__ = ["CLUSTERED_LAYERS", "Clustered", "ClusteredKernel", "cluster_weights", "fine_tune"]

#: The Keras layer classes whose ``kernel`` is clustered.
CLUSTERED_LAYERS = ("Dense", "Conv2D", "DepthwiseConv2D")

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ClusteredKernel:
    """One clustered kernel: its ``layer``'s name, its float ``weights`` before clustering, and
    its ``centroids``: one row per TFLite output channel (``channels``, when per channel) or one
    row (per tensor), each padded with +inf past its own clusters."""

    layer: str
    channels: int | None
    weights: F32 = field(repr=False, compare=False)
    centroids: F32 = field(repr=False, compare=False)

    @property
    def clusters(self) -> int:
        """The most clusters of a row (a tensor or a channel)."""
        return int(np.count_nonzero(np.isfinite(self.centroids), axis=1).max())

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "shape": list(self.weights.shape),
                "per_channel": self.channels is not None, "clusters": self.clusters}


@dataclass(frozen=True)
class Clustered:
    """A clone of a Keras ``model`` with its ``kernels`` clustered (what :func:`fine_tune`
    starts from; it leaves this one as it is)."""

    model: Any = field(repr=False, compare=False)
    kernels: tuple[ClusteredKernel, ...]

    def to_json(self) -> dict[str, Any]:
        return {"model": str(self.model.name), "kernels": [k.to_json() for k in self.kernels]}


def _keras() -> Any:
    """Keras 3 (on TensorFlow, which the fine-tuning loop uses)."""
    tensorflow()
    import keras

    return keras


def _clustered_layers(model: Any) -> Iterator[Any]:
    """Every built Dense, Conv2D and DepthwiseConv2D layer of ``model``, nested models' too."""
    for layer in getattr(model, "layers", ()):
        if type(layer).__name__ in CLUSTERED_LAYERS and layer.built:
            yield layer
        yield from _clustered_layers(layer)


def _channels(layer: Any) -> int:
    """The layer's TFLite output channels: the kernel's last axis, or a depthwise ``[h, w, in,
    multiplier]`` kernel's last two (``in * multiplier`` channels, ``i * multiplier + m``)."""
    shape = tuple(int(n) for n in layer.kernel.shape)
    return shape[-2] * shape[-1] if type(layer).__name__ == "DepthwiseConv2D" else shape[-1]


def _rows(kernel: Any, channels: int | None, ops: Any = np) -> Any:
    """The kernel as the rows clustered alone, ``[channels, n]`` or ``[1, size]``, with numpy or
    TensorFlow (``ops``)."""
    if channels is None:
        return ops.reshape(kernel, (1, -1))
    return ops.transpose(ops.reshape(kernel, (-1, channels)))


def _kernel(rows: Any, shape: tuple[int, ...], channels: int | None, ops: Any = np) -> Any:
    """The inverse of :func:`_rows`."""
    return ops.reshape(rows if channels is None else ops.transpose(rows), shape)


def _cluster(weights: F32, channels: int | None, clusters: int, seed: int) -> tuple[F32, F32]:
    """(centroids padded with +inf, clustered weights) of one kernel, by the k-means codec."""
    encoded = codecs.encode(_rows(weights, channels), codecs.KMeans(clusters, seed=seed, axis=0))
    values = encoded.table("values").astype(np.float32)
    values[np.arange(values.shape[1]) >= encoded.table("counts")[:, None]] = np.inf
    clustered = _kernel(codecs.decode(encoded), weights.shape, channels)
    return values, clustered.astype(np.float32)


def _clone(keras: Any, model: Any) -> Any:
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def cluster_weights(model: Any, clusters: int = 32, *, per_channel: bool = False,
                    seed: int = 0) -> Clustered:
    """A clone of the Keras ``model`` (Sequential or functional) with each Dense, Conv2D and
    DepthwiseConv2D kernel clustered to at most ``clusters`` values (k-means++ from ``seed``),
    per tensor or per TFLite output channel; ``model`` is left as it is."""
    if clusters < 1:
        raise UsageError(f"clusters is at least 1, not {clusters}")
    keras = _keras()
    clone = _clone(keras, model)
    kernels = []
    for layer in _clustered_layers(clone):
        weights = np.asarray(layer.kernel.numpy(), np.float32)
        channels = _channels(layer) if per_channel else None
        centroids, clustered = _cluster(weights, channels, clusters, seed)
        layer.kernel.assign(clustered)
        kernels.append(ClusteredKernel(layer.name, channels, weights, centroids))
    if not kernels:
        raise UsageError(f"the model has no built {'/'.join(CLUSTERED_LAYERS)} layer to cluster")
    return Clustered(clone, tuple(kernels))


def _check_training(x: Any, y: Any, epochs: int, batch_size: int) -> None:
    if epochs < 0 or batch_size < 1:
        raise UsageError(f"epochs is at least 0 and batch_size at least 1, not {epochs} and "
                         f"{batch_size}")
    if len(x) != len(y) or len(x) == 0:
        raise UsageError(f"x and y need the same number of samples, at least one "
                         f"(not {len(x)} and {len(y)})")


class _Shared:
    """One kernel's weight sharing during fine-tuning: the layer's ``kernel`` variable, the
    float ``weights`` behind it and the ``centroids`` (both trained)."""

    def __init__(self, keras: Any, kernel: Any, clustered: ClusteredKernel) -> None:
        self.kernel = kernel
        self.channels = clustered.channels
        self.weights = keras.Variable(clustered.weights, name=f"{clustered.layer}_weights")
        self.centroids = keras.Variable(clustered.centroids, name=f"{clustered.layer}_centroids")

    def assign(self, tf: Any) -> Any:
        """Put each weight on its nearest centroid (a tie to the smaller) in the kernel; the
        assignment, ``[rows, n]`` indices into the centroids' rows."""
        order = tf.argsort(self.centroids, axis=1)
        ordered = tf.gather(self.centroids, order, batch_dims=1)
        midpoints = (ordered[:, 1:] + ordered[:, :-1]) / 2  # +inf past a row's clusters
        rows = _rows(self.weights, self.channels, tf)
        index = tf.gather(order, tf.searchsorted(midpoints, rows, side="left"), batch_dims=1)
        gathered = tf.gather(self.centroids, index, batch_dims=1)
        self.kernel.assign(_kernel(gathered, tuple(self.kernel.shape), self.channels, tf))
        return index

    def gradients(self, tf: Any, grad: Any, index: Any) -> tuple[Any, Any]:
        """(centroids', weights') gradients from the kernel's: summed per cluster, and as is."""
        rows = self.centroids.shape[0]
        k = self.centroids.shape[1]
        segments = index + k * tf.range(rows, dtype=index.dtype)[:, None]
        summed = tf.math.unsorted_segment_sum(_rows(grad, self.channels, tf), segments, rows * k)
        return tf.reshape(summed, (rows, k)), grad


def fine_tune(clustered: Clustered, x: Any, y: Any, *, loss: Any, epochs: int,
              batch_size: int = 32, learning_rate: float = 1e-4, seed: int = 0,
              progress: Progress | None = None) -> Any:
    """A clone of ``clustered.model`` trained on ``(x, y)`` with its clustered kernels' weights
    shared (see the module docstring): a plain Keras model with at most as many values per
    kernel (or channel) as ``clustered``.

    Adam at ``learning_rate`` on the centroids, the float weights behind the kernels and every
    other trainable variable, minimising ``loss`` (a Keras loss name, object or function) plus
    the model's own losses, for ``epochs`` passes over the data in ``batch_size`` batches
    shuffled from ``seed``. ``progress(done, epochs)`` is called after each epoch."""
    _check_training(x, y, epochs, batch_size)
    keras = _keras()
    tf = tensorflow()
    model = _clone(keras, clustered.model)
    kernels = {layer.name: layer.kernel for layer in _clustered_layers(model)}
    shared = [_Shared(keras, kernels[k.layer], k) for k in clustered.kernels]
    tied = {id(s.kernel) for s in shared}
    others = [v for v in model.trainable_variables if id(v) not in tied]
    optimizer = keras.optimizers.Adam(learning_rate)
    loss_fn = keras.losses.get(loss)
    x, y = np.asarray(x), np.asarray(y)
    signature = [tf.TensorSpec((None, *a.shape[1:]), a.dtype) for a in (x, y)]

    @tf.function(input_signature=signature)  # type: ignore[untyped-decorator]
    def step(xb: Any, yb: Any) -> None:  # one trace for every batch size
        indices = [s.assign(tf) for s in shared]
        with tf.GradientTape() as tape:
            total = tf.reduce_mean(loss_fn(yb, model(xb, training=True)))
            if model.losses:
                total += tf.add_n(model.losses)
        grads = tape.gradient(total, [*(s.kernel for s in shared), *others])
        pairs = list(zip(grads[len(shared):], others, strict=True))
        for s, grad, index in zip(shared, grads, indices, strict=False):
            centroids, weights = s.gradients(tf, grad, index)
            pairs += [(centroids, s.centroids), (weights, s.weights)]
        optimizer.apply_gradients(pairs)

    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            step(tf.constant(x[batch]), tf.constant(y[batch]))
        if progress is not None:
            progress(epoch + 1, epochs)
    for s in shared:
        s.assign(tf)
    return model
