"""Batched species inference: tf.data reads, decodes, crops and resizes; one compiled predict.

Each image is read once (a few reads in flight at a time, so remote storage
keeps the pipeline fed) and decoded once: a JPEG at the coarsest DCT scale
(1/2, 1/4, 1/8) that still leaves its smallest box at least twice the model's
input size, anything else in full. Every box of the image is cut from that one
decode as whole pixels (a slice of the uint8 image, no copy of the frame in
floats), made square and padded with black where it leaves the frame, and
resized with antialiasing from its own size, as ``square_crop`` does with PIL.
Crops are batched and go through one compiled ``tf.function`` forward pass per
batch; whether the model gives logits is decided once, when it is loaded. The
same code runs on a GPU and on the CPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage

from ..exceptions import ClassifierError
from ..taxonomy import Preprocessing
from .modelfiles import (
    is_zipped_saved_model,
    load_stored,
    open_keras,
    open_saved_model,
    spec_shape,
)

READ_AHEAD = 8
JPEG_RATIOS = (1, 2, 4, 8)


@dataclass(frozen=True)
class ImageBoxes:
    """The boxes (left, top, right, bottom; 0..1) to classify on one stored image."""

    key: str
    ids: list[int]
    boxes: list[tuple[float, float, float, float]]
    width: int | None = None
    height: int | None = None


@dataclass
class LoadedModel:
    """A classifier's model, ready to call on a batch of crops (float32, 0..255 RGB):
    ``predict(crops)`` gives (top class index [n], its probability [n])."""

    predict: Callable
    outputs: int
    size: int
    keep: list = field(default_factory=list)  # what must live as long as the model
    logits: bool = False  # the model's outputs are logits (softmax applied in the pass)


def jpeg_ratio_index(item: ImageBoxes, input_size: int) -> int:
    """Index into JPEG_RATIOS of the coarsest scale that keeps every box ≥ 2× the input."""
    if not item.width or not item.height:
        return 0
    smallest = min(max((r - left) * item.width, (b - t) * item.height)
                   for left, t, r, b in item.boxes)
    index = 0
    while index + 1 < len(JPEG_RATIOS) and (
            smallest / JPEG_RATIOS[index + 1] >= 2 * input_size):
        index += 1
    return index


def read_all(items: Iterable, read: Callable[[str], bytes]):
    """(item, data) in order for items with a storage ``key``, up to READ_AHEAD reads in flight."""
    items = iter(items)
    with ThreadPoolExecutor(READ_AHEAD) as pool:
        pending = []
        for item in items:
            pending.append((item, pool.submit(read, item.key)))
            if len(pending) >= READ_AHEAD:
                first, future = pending.pop(0)
                yield first, future.result()
        for item, future in pending:
            yield item, future.result()


def read_stored(key: str) -> bytes:
    with default_storage.open(key, "rb") as fh:
        return fh.read()


def _squares(boxes, height, width):
    """Boxes (left, top, right, bottom; 0..1) → squares of whole pixels: x0, y0, x1, y1.

    The square is centred on the box and as wide as its longer side, rounded as
    ``square_crop`` rounds; it may reach outside the frame.
    """
    import tensorflow as tf

    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    left, top, right, bottom = tf.unstack(boxes, axis=1)
    side = tf.maximum(tf.maximum((right - left) * w, (bottom - top) * h), 1.0)
    cx, cy = (left + right) / 2 * w, (top + bottom) / 2 * h

    def pixel(value):
        return tf.cast(tf.round(value), tf.int32)

    x0, y0 = pixel(cx - side / 2), pixel(cy - side / 2)
    return (x0, y0, tf.maximum(pixel(cx + side / 2), x0 + 1),
            tf.maximum(pixel(cy + side / 2), y0 + 1))


def _cut(image, x0, y0, x1, y1, size: int):
    """The square [x0, x1) × [y0, y1) of uint8 ``image``, black outside it, as size×size."""
    import tensorflow as tf

    height, width = tf.shape(image)[0], tf.shape(image)[1]
    inside_x0, inside_y0 = tf.clip_by_value(x0, 0, width), tf.clip_by_value(y0, 0, height)
    inside_x1 = tf.clip_by_value(x1, inside_x0, width)
    inside_y1 = tf.clip_by_value(y1, inside_y0, height)
    region = image[inside_y0:inside_y1, inside_x0:inside_x1]
    side_x, side_y = x1 - x0, y1 - y0
    pad_left = tf.clip_by_value(inside_x0 - x0, 0, side_x)
    pad_top = tf.clip_by_value(inside_y0 - y0, 0, side_y)
    region = tf.pad(region, [[pad_top, side_y - pad_top - (inside_y1 - inside_y0)],
                             [pad_left, side_x - pad_left - (inside_x1 - inside_x0)], [0, 0]])
    return tf.image.resize(region, [size, size], antialias=True)


def decode_image(data, ratio_index):
    """Encoded ``data`` as uint8 [h, w, 3]; a JPEG at 1/JPEG_RATIOS[ratio_index] of its size."""
    import tensorflow as tf

    def jpeg(ratio):
        return lambda: tf.io.decode_jpeg(data, channels=3, ratio=ratio,
                                         dct_method="INTEGER_FAST")

    return tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.switch_case(ratio_index, [jpeg(r) for r in JPEG_RATIOS]),
        lambda: tf.ensure_shape(
            tf.io.decode_image(data, channels=3, expand_animations=False), [None, None, 3]),
    )


def crops_of(data, boxes, ratio_index, size: int):
    """Square black-padded crops of ``boxes`` on encoded image ``data``: [n, size, size, 3]."""
    import tensorflow as tf

    image = decode_image(data, ratio_index)
    x0, y0, x1, y1 = _squares(boxes, tf.shape(image)[0], tf.shape(image)[1])
    return tf.map_fn(lambda square: _cut(image, *square, size), (x0, y0, x1, y1),
                     fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))


def scale(crops, preprocessing: str):
    """0..255 crops as the model wants them."""
    if preprocessing == Preprocessing.UNIT:
        return crops / 255.0
    if preprocessing == Preprocessing.SYMMETRIC:
        return crops / 127.5 - 1.0
    return crops


def stored_images(items: Iterable, read: Callable[[str], bytes], row: Callable,
                  output_signature, failures: list):
    """A tf.data Dataset of ``row(item, data)`` for each item, its stored image read once.

    A read that fails stops the stream; the exception is appended to
    ``failures`` for the caller to raise (tf.data would otherwise bury it).
    """
    import tensorflow as tf

    def generate():
        try:
            for item, data in read_all(items, read):
                yield row(item, data)
        except Exception as exc:  # handed to the caller, who raises it
            failures.append(exc)

    return tf.data.Dataset.from_generator(generate, output_signature=output_signature)


def crop_dataset(items: Iterable[ImageBoxes], size: int, preprocessing: str, *,
                 read: Callable[[str], bytes] = read_stored, failures: list | None = None):
    """A tf.data pipeline of (detection ids [n], crops [n, size, size, 3]) batches.

    Batches hold settings.CLASSIFY_BATCH crops (the last one fewer). A failed
    read stops the stream and lands in ``failures`` (see ``stored_images``).
    """
    import tensorflow as tf

    dataset = stored_images(
        items, read, lambda item, data: (
            data, np.asarray(item.boxes, np.float32).reshape(-1, 4),
            np.asarray(item.ids, np.int64), np.int32(jpeg_ratio_index(item, size))),
        (tf.TensorSpec((), tf.string), tf.TensorSpec((None, 4), tf.float32),
         tf.TensorSpec((None,), tf.int64), tf.TensorSpec((), tf.int32)),
        [] if failures is None else failures)
    dataset = dataset.map(
        lambda data, boxes, ids, ratio: (ids, crops_of(data, boxes, ratio, size)),
        num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.unbatch().batch(settings.CLASSIFY_BATCH).map(
        lambda ids, crops: (ids, scale(crops, preprocessing))).prefetch(2)


def predictions(model: LoadedModel, items: Iterable[ImageBoxes], size: int,
                preprocessing: str, *, read: Callable[[str], bytes] = read_stored,
                ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(detection ids, top-1 class index, top-1 score) per batch of crops."""
    failures: list = []
    for ids, crops in crop_dataset(items, size, preprocessing, read=read, failures=failures):
        best, score = model.predict(crops)
        yield ids.numpy(), best.numpy(), score.numpy()
    if failures:
        raise failures[0]


def _first_output(out):
    import tensorflow as tf

    if isinstance(out, dict):
        out = next(iter(out.values()))
    return tf.cast(out, tf.float32)


def gives_logits(fn, size: int, outputs: int) -> bool:
    """Whether ``fn`` gives logits rather than probabilities, asked once at load.

    Probabilities lie in 0..1 and sum to 1 per crop; a probe batch of varied crops
    that breaks either says logits (a softmax is then applied in the compiled pass).
    """
    import tensorflow as tf

    probe = tf.random.stateless_uniform([4, size, size, 3], seed=[7, 11], maxval=255.0)
    out = _first_output(fn(probe)).numpy()
    if out.ndim != 2 or out.shape[1] != outputs:
        raise ClassifierError(f"The model gave outputs of shape {tuple(out.shape)} for 4 crops, "
                              f"not (4, {outputs}): one vector of class scores per crop.")
    return bool((out < 0).any() or (out > 1).any()
                or not np.allclose(out.sum(axis=1), 1.0, atol=1e-3))


def _compiled(fn, size: int, outputs: int, keep=()) -> LoadedModel:
    """One compiled pass per batch: class scores, softmax when the model gives logits, and the
    top class with its score (only two small vectors leave the graph)."""
    import tensorflow as tf

    logits = gives_logits(fn, size, outputs)

    def top1(crops):
        out = _first_output(fn(crops))
        probabilities = tf.nn.softmax(out) if logits else out
        return (tf.argmax(probabilities, axis=1, output_type=tf.int32),
                tf.reduce_max(probabilities, axis=1))

    compiled = tf.function(top1, reduce_retracing=True,
                           input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
    return LoadedModel(compiled, outputs, size, list(keep), logits=logits)


def input_size_of(shape, size: int | None, *, what: str = "a classifier",
                  unit: str = "crops") -> int:
    """The square input size a model of input ``shape`` (batch, h, w, 3) takes.

    ``size`` None: the model's own (ClassifierError when it has none).
    ``what``/``unit`` word the errors (detectors take whole images).
    """
    dims = tuple(shape) if isinstance(shape, list | tuple) else ()
    if len(dims) != 4 or dims[3] not in (3, None) or (
            dims[1] is not None and dims[2] is not None and dims[1] != dims[2]):
        raise ClassifierError(f"The model takes input of shape {tuple(dims) or shape}; {what} "
                              f"takes square RGB {unit} (batch, size, size, 3).")
    known = dims[1] or dims[2]
    if size is None and known is None:
        raise ClassifierError("The model accepts any input size; give the input size to use.")
    if size is not None and known is not None and known != size:
        raise ClassifierError(f"The model takes {known}×{known} {unit}, not the {size}×{size} "
                              "given; set the input size to the model's.")
    return size or known


def load_model_file(path: str, size: int | None = None) -> LoadedModel:
    """A Keras file (.keras, .h5) or a zipped TensorFlow SavedModel, compiled for its crops.

    ``size``: the crop side; None takes the model's own. Raises
    ClassifierError when the file is not such a model or does not take square
    RGB crops of ``size`` and give one vector of class scores.
    """
    if is_zipped_saved_model(path):
        return _load_saved_model(path, size)
    model = open_keras(path)
    size = input_size_of(model.input_shape, size)
    outputs = model.output_shape
    if not isinstance(outputs, tuple) or len(outputs) != 2 or outputs[1] is None:
        raise ClassifierError(f"The model's output has shape {outputs}; a classifier gives "
                              "one vector of class scores per crop (batch, classes).")
    return _compiled(lambda crops: model(crops, training=False), size, outputs[1], [model])


def _load_saved_model(path: str, size: int | None) -> LoadedModel:
    import tensorflow as tf

    _, signature, name, spec, keep = open_saved_model(path)
    size = input_size_of(spec_shape(spec), size)
    probe = signature(**{name: tf.zeros([1, size, size, 3], spec.dtype)})
    (out,) = probe.values() if len(probe) == 1 else (None,)
    if out is None or len(out.shape) != 2:
        raise ClassifierError("The SavedModel's serving signature must give one output of "
                              "class scores per crop (batch, classes).")
    return _compiled(lambda crops: signature(**{name: tf.cast(crops, spec.dtype)}), size,
                     int(out.shape[1]), keep)


@functools.lru_cache(maxsize=4)
def _stored_model(model_key: str, size: int, _stamp: str) -> LoadedModel:
    return load_stored(model_key, lambda path: load_model_file(path, size),
                       what="classifier model", hint="Upload it again, or rebuild the demo "
                       "model with manage.py build_demo_classifier.")


def stored_model(classifier) -> LoadedModel:
    """The classifier's model, loaded once per process (and per change of the record)."""
    return _stored_model(classifier.model_key, classifier.input_size,
                         classifier.created_at.isoformat())
