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
    return zip_folder(saved, folder / "model.zip")


def zip_folder(saved: Path, archive: Path) -> Path:
    """The SavedModel folder zipped as saved/…, as a user would."""
    with zipfile.ZipFile(archive, "w") as zf:
        for file in saved.rglob("*"):
            zf.write(file, Path("saved") / file.relative_to(saved))
    return archive


def label_index(*names: str) -> bytes:
    return json.dumps({str(i): name for i, name in enumerate(names)}).encode()


# --- tiny detectors: bright squares on a dark background -------------------------------
# Both look through a WINDOW-pixel window slid STRIDE pixels at a time over a SIDE-pixel
# input; a window's objectness is (brightness of red and green in it)^8, so the window
# exactly over a square scores near 1 and windows one stride off score about 0.1: overlapping
# duplicates that non-max suppression must merge. A square with blue in it (white) is class 0;
# one without (yellow) class 1.
SIDE, WINDOW, STRIDE = 64, 16, 4
CELLS = (SIDE - WINDOW) // STRIDE + 1


def _window_boxes() -> np.ndarray:
    """cx, cy, w, h (0..1 over the input) of each window, row by row: [CELLS², 4]."""
    rows = [((j * STRIDE + WINDOW / 2) / SIDE, (i * STRIDE + WINDOW / 2) / SIDE,
             WINDOW / SIDE, WINDOW / SIDE) for i in range(CELLS) for j in range(CELLS)]
    return np.asarray(rows, np.float32)


def yolo_keras_detector(path: Path) -> Path:
    """YOLOv5 rows [b, CELLS², 5 + 2] (boxes in input pixels) from built-in Keras layers;
    takes 0..1 pixels."""
    import keras

    inputs = keras.Input((SIDE, SIDE, 3))
    pool = keras.layers.AveragePooling2D(WINDOW, strides=STRIDE)
    red_green, blue = keras.layers.Conv2D(1, 1, use_bias=False), keras.layers.Conv2D(
        1, 1, use_bias=False)
    bright = pool(red_green(inputs))
    for _ in range(3):
        bright = keras.layers.Multiply()([bright, bright])
    white = pool(blue(inputs))
    not_white = keras.layers.Conv2D(1, 1)
    yellow = not_white(white)
    rows = keras.layers.Reshape((CELLS * CELLS, 3))(
        keras.layers.Concatenate()([bright, white, yellow]))
    constant = keras.layers.Dense(CELLS * CELLS * 4)
    boxes = keras.layers.Reshape((CELLS * CELLS, 4))(
        constant(keras.layers.GlobalAveragePooling2D()(inputs)))
    model = keras.Model(inputs, keras.layers.Concatenate()([boxes, rows]))
    red_green.set_weights([np.array([0.5, 0.5, 0.0], np.float32).reshape(1, 1, 3, 1)])
    blue.set_weights([np.array([0.0, 0.0, 1.0], np.float32).reshape(1, 1, 3, 1)])
    not_white.set_weights([np.full((1, 1, 1, 1), -1.0, np.float32), np.ones(1, np.float32)])
    constant.set_weights([np.zeros((3, CELLS * CELLS * 4), np.float32),
                          _window_boxes().reshape(-1) * SIDE])
    model.save(path)
    return path


def boxes_saved_model(folder: Path, *, order: str = "yxyx") -> Path:
    """A zipped SavedModel in the TF Object Detection API's style, without its own NMS.

    Takes uint8 0..255 images; gives detection_boxes (in ``order``),
    detection_scores, detection_classes (1 white, 2 yellow: numbered from 1) and
    num_detections.
    """
    import tensorflow as tf

    cx, cy, w, h = (_window_boxes()[:, i] for i in range(4))
    corners = [cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2]
    if order == "xyxy":
        corners = [corners[1], corners[0], corners[3], corners[2]]
    fixed = np.stack(corners, axis=1)

    class Net(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, SIDE, SIDE, 3], tf.uint8)])
        def serve(self, images):
            pixels = tf.cast(images, tf.float32) / 255.0
            pooled = tf.nn.avg_pool2d(pixels, WINDOW, STRIDE, "VALID")
            batch = tf.shape(images)[0]
            flat = tf.reshape(pooled, [batch, CELLS * CELLS, 3])
            bright = ((flat[..., 0] + flat[..., 1]) / 2) ** 8
            classes = tf.where(flat[..., 2] > 0.5, 1.0, 2.0)
            return {"detection_boxes": tf.tile(tf.constant(fixed)[None], [batch, 1, 1]),
                    "detection_scores": bright, "detection_classes": classes,
                    "num_detections": tf.fill([batch], float(CELLS * CELLS))}

    net = Net()
    saved = folder / f"detector-{order}"
    tf.saved_model.save(net, str(saved), signatures={"serving_default": net.serve})
    return zip_folder(saved, folder / f"detector-{order}.zip")
