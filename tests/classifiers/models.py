"""Tiny models the classifier tests build (nothing is downloaded)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np


def keras_classifier(path: Path, *, size: int = 32, classes: int = 3, logits: bool = False,
                     seed: int = 1) -> Path:
    """A small convolutional classifier saved as .keras (random weights, fixed seed)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((size, size, 3)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(classes, activation=None if logits else "softmax"),
    ])
    model.save(path)
    return path


def colour_model(path: Path, *, size: int = 16) -> Path:
    """Three classes that read a crop's mean colour: red, green, blue (a softmax over them)."""
    import keras

    inputs = keras.Input((size, size, 3))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(3, activation="softmax", use_bias=False)
    outputs = dense(mean)
    model = keras.Model(inputs, outputs)
    dense.set_weights([np.eye(3, dtype=np.float32) * 0.02])
    model.save(path)
    return path


def zipped_saved_model(folder: Path, *, size: int = 24, classes: int = 4) -> Path:
    """A TensorFlow SavedModel (a tf.Module with a serving signature), zipped."""
    import tensorflow as tf

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.random.stateless_normal([3, classes], seed=[1, 2]))

        @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
        def serve(self, images):
            mean = tf.reduce_mean(images, axis=[1, 2]) / 255.0
            return {"scores": tf.nn.softmax(mean @ self.w)}

    net = Net()
    saved = folder / "saved"
    tf.saved_model.save(net, str(saved), signatures={"serving_default": net.serve})
    archive = folder / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in saved.rglob("*"):
            zf.write(file, Path("saved") / file.relative_to(saved))
    return archive


def label_index(*names: str) -> bytes:
    return json.dumps({str(i): name for i, name in enumerate(names)}).encode()
