"""TensorFlow Model Optimization's cluster-preserving fine-tuning, run as a script (TFMOT needs
Keras 2: ``TF_USE_LEGACY_KERAS=1`` and tf-keras, which change ``tf.keras`` for the whole
process, so the test runs this in a subprocess).

    TF_USE_LEGACY_KERAS=1 python _tfmot_cluster.py DATA.npz

``DATA.npz`` holds ``x_train``, ``y_train``, ``x_test``, ``y_test``, the float model's weights
``w0``, ``w1``, ... (Dense kernels and biases in order: the model is ``Input(features)``, Dense
relu layers, a Dense softmax layer) and ``clusters`` (one or more counts), ``epochs``,
``batch_size``, ``learning_rate``, ``seed``. For each count, clusters the model with k-means++
and fine-tunes it; prints one JSON object mapping each count to the test accuracy and the
distinct values of each stripped kernel.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot


def build(weights: list[np.ndarray]) -> tf.keras.Model:
    kernels = weights[::2]
    layers = [tf.keras.layers.Dense(k.shape[1], activation="relu") for k in kernels[:-1]]
    layers.append(tf.keras.layers.Dense(kernels[-1].shape[1], activation="softmax"))
    model = tf.keras.Sequential([tf.keras.Input((kernels[0].shape[0],)), *layers])
    model.set_weights(weights)
    return model


def cluster(data: Any, weights: list[np.ndarray], clusters: int) -> dict[str, Any]:
    tf.keras.utils.set_random_seed(int(data["seed"]))
    keras = tfmot.clustering.keras
    clustered = keras.cluster_weights(
        build(weights), number_of_clusters=clusters,
        cluster_centroids_init=keras.CentroidInitialization.KMEANS_PLUS_PLUS)
    clustered.compile(tf.keras.optimizers.Adam(float(data["learning_rate"])),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
    clustered.fit(data["x_train"], data["y_train"], epochs=int(data["epochs"]),
                  batch_size=int(data["batch_size"]), verbose=0)
    stripped = keras.strip_clustering(clustered)
    stripped.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, accuracy = stripped.evaluate(data["x_test"], data["y_test"], verbose=0)
    return {"accuracy": float(accuracy),
            "distinct": [len(np.unique(w)) for w in stripped.get_weights()[::2]]}


def main(path: str) -> None:
    data = np.load(path)
    weights = [data[f"w{i}"] for i in range(sum(k.startswith("w") for k in data.files))]
    print(json.dumps({int(k): cluster(data, weights, int(k))
                      for k in np.atleast_1d(data["clusters"])}))


if __name__ == "__main__":
    main(sys.argv[1])
