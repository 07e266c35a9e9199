"""The network, its input pipeline and the fit itself (Keras 3, CPU or GPU).

Two architectures, both built here from random weights (nothing is ever
downloaded):

``mobilenet`` (the default)
    keras.applications.MobileNetV3Small, ~1 M parameters, with its own
    rescaling layer so it takes 0..255 crops (the ``raw`` preprocessing).
    Small enough to train on a CPU at 96 px, the size of the field's
    phone-class classifiers, and big enough for tens of species.
``compact``
    four convolution blocks, ~60 k parameters: for a few hundred crops (a
    first survey, the tests), where MobileNet would mostly memorise.

Each is ``inputs → backbone → dropout → Dense(classes, softmax)``; the
backbone is a sub-model so a user's weights file may fit either the whole
network or only the backbone (``--base-weights``).
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.core.files.storage import default_storage

from classifiers.services.inference import scale
from classifiers.taxonomy import Preprocessing

from ..exceptions import TrainingError

ARCHITECTURES = ("mobilenet", "compact")
# Decoded crops are kept in memory between epochs when they take less than this.
CACHE_BYTES = 1024**3
BRIGHTNESS = 0.15 * 255
BN_MOMENTUM = 0.9


def _compact_backbone(size: int):
    import keras

    layers = [keras.Input((size, size, 3)), keras.layers.Rescaling(1 / 255)]
    # No batch normalisation: with a few hundred crops its moving averages would not
    # settle in the few hundred steps a run takes, and held-out predictions would suffer.
    for filters in (16, 32, 64, 96):
        layers += [keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
                   keras.layers.MaxPooling2D()]
    layers.append(keras.layers.GlobalAveragePooling2D())
    return keras.Sequential(layers, name="backbone")


def _mobilenet_backbone(size: int):
    import keras

    backbone = keras.applications.MobileNetV3Small(
        input_shape=(size, size, 3), include_top=False, weights=None, pooling="avg",
        include_preprocessing=True, name="backbone")
    # Keras' 0.999 lets the moving averages settle only after thousands of steps; a run
    # on a first survey's crops takes a few hundred, and held-out scores were below chance.
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    return backbone


def build_model(architecture: str, size: int, classes: int):
    """A new network of ``architecture`` for ``size`` px crops (0..255) and ``classes``."""
    import keras

    if architecture not in ARCHITECTURES:
        raise TrainingError(f"--architecture {architecture!r}: choose one of "
                            f"{', '.join(ARCHITECTURES)}.")
    backbone = (_mobilenet_backbone if architecture == "mobilenet" else _compact_backbone)(size)
    inputs = keras.Input((size, size, 3), name="crops")
    features = keras.layers.Dropout(0.2)(backbone(inputs))
    outputs = keras.layers.Dense(classes, activation="softmax", name="classes")(features)
    return keras.Model(inputs, outputs, name=f"{architecture}_{size}")


def load_base_weights(model, path: str) -> str:
    """Load a user's weights file into the whole network, else into its backbone.

    Returns which part took them. Raises TrainingError naming the file when
    neither fits (another architecture, input size or class count).
    """
    if not os.path.isfile(path):
        raise TrainingError(f"--base-weights: there is no file {path!r}.")
    if not path.endswith((".weights.h5", ".keras", ".h5")):
        raise TrainingError(f"--base-weights {path}: give a Keras weights file "
                            "(.weights.h5, .keras or .h5).")
    problems = []
    for part, target in (("whole network", model), ("backbone", model.get_layer("backbone"))):
        try:
            with warnings.catch_warnings():  # Keras warns per layer before it raises
                warnings.simplefilter("ignore")
                target.load_weights(path)
            return part
        except Exception as exc:  # Keras raises ValueError, KeyError, OSError… for a misfit
            problems.append(f"{part}: {' '.join(str(exc).split())[:300]}")
    raise TrainingError(f"--base-weights {path} fits neither the {model.name} network nor "
                        f"its backbone (check --architecture and --input-size). "
                        + "; ".join(problems))


@dataclass
class StartingModel:
    """A registered classifier's network, ready to fine-tune."""

    model: object
    size: int
    preprocessing: str
    kept_classes: list[str]


def _stored_keras(classifier):
    import keras

    suffix = os.path.splitext(classifier.model_key)[1].lower()
    if suffix not in (".keras", ".h5"):
        raise TrainingError(f"--fine-tune {classifier}: its model is a {suffix or 'plain'} "
                            "file; only Keras models (.keras, .h5) can be fine-tuned.")
    if not default_storage.exists(classifier.model_key):
        raise TrainingError(f"--fine-tune {classifier}: its model file is missing from "
                            "storage.")
    with default_storage.open(classifier.model_key, "rb") as src, \
            tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        tmp.write(src.read())
        tmp.flush()
        try:
            return keras.models.load_model(tmp.name, compile=False)
        except Exception as exc:  # many kinds for a file Keras cannot read
            raise TrainingError(f"--fine-tune {classifier}: its model cannot be loaded "
                                f"({exc}).") from exc


def fine_tune_start(classifier, classes: list[str]) -> StartingModel:
    """``classifier``'s network with a new head for ``classes`` when they differ.

    A new head keeps the old weights of classes that keep their name; the
    rest start at random.
    """
    import keras

    model = _stored_keras(classifier)
    size = int(model.input_shape[1] or classifier.input_size)
    old = list(classifier.classes)
    if old == classes:
        return StartingModel(model, size, classifier.preprocessing, classes)
    dense_at = [i for i, layer in enumerate(model.layers)
                if isinstance(layer, keras.layers.Dense)]
    if not dense_at or dense_at[-1] == 0:
        raise TrainingError(f"--fine-tune {classifier}: its model has no Dense output layer "
                            "to replace for the new classes.")
    head = model.layers[dense_at[-1]]
    features = model.layers[dense_at[-1] - 1].output
    new_head = keras.layers.Dense(len(classes), activation="softmax", name="classes_new")
    tuned = keras.Model(model.inputs, new_head(features), name=f"{model.name}_tuned")
    kernel, bias = new_head.get_weights()
    old_kernel, old_bias = head.get_weights()[:2]
    kept = [name for name in classes if name in old]
    for name in kept:
        kernel[:, classes.index(name)] = old_kernel[:, old.index(name)]
        bias[classes.index(name)] = old_bias[old.index(name)]
    new_head.set_weights([kernel, bias])
    return StartingModel(tuned, size, classifier.preprocessing, kept)


def crop_pipeline(paths: list[str], labels: list[int], size: int, *, batch: int,
                  training: bool, seed: int, preprocessing: str = Preprocessing.RAW):
    """tf.data of (crops, labels): decode, resize to ``size``; when ``training``, shuffled
    each epoch and augmented (left-right flips, brightness, a little contrast).

    The same ``seed`` gives the same batches, epoch after epoch, in every run: the
    shuffle is seeded, and each crop's augmentation is drawn by stateless ops from
    a seed pair of its own, taken from a stream fixed by ``seed`` that moves on
    each epoch as the shuffle does. Stateful random ops in the parallel map would
    hand out their draws in whatever order the threads reach them. (The trained
    weights repeat on one machine; another CPU thread count sums in another order.)
    """
    import tensorflow as tf

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(tf.ensure_shape(image, [None, None, 3]), [size, size],
                                antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), label

    def augment(crop, pair):
        image, label = crop
        flip, brightness, contrast = tf.unstack(tf.random.experimental.stateless_split(pair, 3))
        image = tf.cast(image, tf.float32)
        image = tf.image.stateless_random_flip_left_right(image, flip)
        image = tf.image.stateless_random_brightness(image, BRIGHTNESS, brightness)
        image = tf.image.stateless_random_contrast(image, 0.85, 1.15, contrast)
        return tf.clip_by_value(image, 0.0, 255.0), label

    data = tf.data.Dataset.from_tensor_slices((paths, np.asarray(labels, np.int32)))
    data = data.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    if len(paths) * size * size * 3 <= CACHE_BYTES:
        data = data.cache()
    if training:
        # Each crop's seed pair for this epoch, drawn before the shuffle so it
        # depends on (seed, epoch, crop) only.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(
            2, drop_remainder=True)
        data = tf.data.Dataset.zip(data, seeds).shuffle(
            len(paths), seed=seed, reshuffle_each_iteration=True)
        data = data.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        data = data.map(lambda image, label: (tf.cast(image, tf.float32), label))
    data = data.batch(batch).map(lambda images, labels: (scale(images, preprocessing), labels))
    options = tf.data.Options()
    options.deterministic = True  # parallel maps keep their input's order (the default)
    return data.prefetch(2).with_options(options)


EpochHook = Callable[[int, int, dict], None]  # (epoch done, epochs, metrics)


def progress_callback(progress, epoch_done: EpochHook | None, steps: int):
    """A Keras callback: ``progress(batch, steps)`` in each epoch, ``epoch_done`` after it."""
    import keras

    class Report(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            progress(0, steps)

        def on_train_batch_end(self, batch, logs=None):
            progress(batch + 1, steps)

        def on_epoch_end(self, epoch, logs=None):
            if epoch_done is not None:
                epochs = self.params.get("epochs", epoch + 1)
                epoch_done(epoch + 1, epochs, {k: round(float(v), 4)
                                               for k, v in (logs or {}).items()})

    return Report()


def balanced_weights(labels: list[int], classes: int) -> dict[int, float]:
    """Class weights inversely proportional to their crop counts (rare species count)."""
    counts = np.bincount(labels, minlength=classes)
    return {i: float(len(labels) / (classes * c)) if c else 1.0 for i, c in enumerate(counts)}


def fit(model, train, *, epochs: int, steps: int, weights: dict, learning_rate: float,
        progress, epoch_done: EpochHook | None) -> list[dict]:
    """Compile and fit; return the per-epoch metrics."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, epochs=epochs, class_weight=weights, verbose=0, shuffle=False,
                        callbacks=[progress_callback(progress, epoch_done, steps)])
    keys = list(history.history)
    return [{"epoch": i + 1, **{k: round(float(history.history[k][i]), 4) for k in keys}}
            for i in range(len(history.epoch))]


def predict(model, data) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 class and its score per crop of ``data`` (unshuffled)."""
    probabilities = model.predict(data, verbose=0)
    best = probabilities.argmax(axis=1)
    return best, probabilities[np.arange(len(best)), best]


def steps_of(count: int, batch: int) -> int:
    return max(1, math.ceil(count / batch))
