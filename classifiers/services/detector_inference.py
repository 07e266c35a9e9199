"""Running a registered detector: tf.data letterboxes the images, one compiled pass per batch.

Each image is read once (a few reads in flight) and decoded once, then
resized, keeping its aspect, to fit the model's square input and padded with
grey (PAD_VALUE, as YOLO and MegaDetector v5 pad): the letterbox, all inside
the tf.data graph. Batches of letterboxed images go through one compiled
``tf.function`` that calls the model, reads its outputs, applies non-max
suppression and maps the boxes back to the original image. The same code runs
on a GPU and on the CPU.

Output contract: for a batch of images [b, size, size, 3] the model gives what
its registration declared (``Detector.output_format``; a probe at registration
refuses outputs of other shapes, naming them):

(a) ``boxes``: boxes, scores and classes:
      boxes   [b, N, 4]  normalised 0..1 over the model's input, in the
                         Detector's ``box_order``: y1, x1, y2, x2 (the
                         TensorFlow Object Detection API's) or x1, y1, x2, y2;
      scores  [b, N]     confidence 0..1;
      classes [b, N]     class numbers (int or float): the category map's keys.
    As a dict with the keys ``detection_boxes``/``boxes``,
    ``detection_scores``/``scores`` and ``detection_classes``/``classes``
    (others, such as ``num_detections``, are ignored); as a tuple or list of the
    three in that order; or as a dict of exactly three outputs taken in key order
    (a Keras export's output_0, output_1, output_2).
(b) ``yolov5``: YOLO rows, one tensor [b, N, 5 + C]: cx, cy, w, h in pixels
    of the model's input, objectness, then C class scores; a box's score for
    class c is objectness × class score (YOLOv5's convention; MegaDetector v5
    exported to ONNX gives these at 1280 px).
(c) ``yolox``: YOLOX's raw head rows (an export without its decoding), one
    tensor [b, N, 5 + C] with N the cells of strides 8, 16 and 32: cell offsets
    and log sizes, decoded here as YOLOX does ((offset + cell) × stride,
    exp(log size) × stride), then read as (b).

The model is a Keras file, a zipped SavedModel or an ONNX file (run by
onnxruntime: services.onnxmodel). Whatever the model did itself, boxes then go through non-max
suppression per category at the Detector's ``nms_iou``: model classes mapped
to one category compete, since only the category is stored. Classes the map
does not list are dropped, as are scores below MIN_SCORE; at most MAX_BOXES
remain per image.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from ..exceptions import ClassifierError
from ..taxonomy import BoxOrder, DetectorOutput
from .detectors import Box
from .inference import (
    JPEG_RATIOS,
    decode_image,
    input_size_of,
    read_stored,
    scale,
    stored_images,
)
from .modelfiles import (
    is_zipped_saved_model,
    load_stored,
    open_keras,
    open_saved_model,
    spec_shape,
)
from .yolox import STRIDES as YOLOX_STRIDES
from .yolox import grid as yolox_grid

MIN_SCORE = 0.05  # MegaDetector's: lower-scoring boxes are not kept
MAX_BOXES = 100
PAD_VALUE = 114.0
CATEGORIES = 3  # MegaDetector's: 1 animal, 2 person, 3 vehicle
NAMES = (("detection_boxes", "boxes"), ("detection_scores", "scores"),
         ("detection_classes", "classes"))
CONTRACT = {
    DetectorOutput.BOXES: "boxes [batch, N, 4], scores [batch, N] and classes [batch, N] "
    "(named detection_boxes, detection_scores, detection_classes, or in that order)",
    DetectorOutput.YOLOV5: "one tensor of YOLO rows [batch, N, 5 + classes]",
    DetectorOutput.YOLOX: "one tensor of YOLOX head rows [batch, N, 5 + classes], N the "
    "cells of strides 8, 16 and 32 over the input",
}


@dataclass(frozen=True)
class DetectImage:
    """An image to detect on: its id, storage key and longest side when known."""

    id: int
    key: str
    longest: int | None = None


@dataclass
class ProbedDetector:
    """A detector's model, opened and probed once: how to call it and what it gives."""

    call: Callable
    size: int
    batch_one: bool  # the model takes one image at a time
    output_format: str  # as declared (DetectorOutput), checked against the probe
    classes: int | None  # YOLO: the number of class scores per row
    keep: list = field(default_factory=list)  # what must live as long as the model


def _outputs(out) -> list:
    """The model's outputs in contract order (see the module docstring)."""
    if isinstance(out, dict):
        named = [next((out[k] for k in keys if k in out), None) for keys in NAMES]
        if all(t is not None for t in named):
            return named
        return [out[k] for k in sorted(out)]
    if isinstance(out, list | tuple):
        return list(out)
    return [out]


def _describe(out) -> str:
    if isinstance(out, dict):
        return ", ".join(f"{k} {tuple(v.shape)}" for k, v in sorted(out.items()))
    return ", ".join(str(tuple(t.shape)) for t in _outputs(out))


def _shape_family(shapes: list[tuple], batch: int) -> str | None:
    """Which contract the shapes fit (YOLOv5 for any rows): for the refusal's hint only."""
    if len(shapes) == 1 and len(shapes[0]) == 3 and shapes[0][0] == batch and shapes[0][2] >= 6:
        return DetectorOutput.YOLOV5
    if len(shapes) == 3:
        boxes, scores, classes = shapes
        if (len(boxes) == 3 and boxes[2] == 4 and scores == classes == boxes[:2]
                and boxes[0] == batch):
            return DetectorOutput.BOXES
    return None


def check_outputs(out, batch: int, output_format: str, size: int) -> int | None:
    """The YOLO class count of a probe's outputs, when they fit the declared ``output_format``.

    Raises ClassifierError naming the shapes and what the format expects.
    """
    if output_format not in DetectorOutput.values:
        raise ClassifierError(f"Unknown output format {output_format!r}; choose one of "
                              f"{', '.join(DetectorOutput.values)}.")
    shapes = [np.asarray(v).shape for v in _outputs(out)]
    family = _shape_family(shapes, batch)
    rows = shapes[0][1] if family == DetectorOutput.YOLOV5 else None
    if output_format == DetectorOutput.YOLOX and rows is not None and rows != yolox_cells(size):
        raise ClassifierError(
            f"The model gives {rows} rows for {size}×{size} images, but YOLOX's head has "
            f"{yolox_cells(size)} (strides 8, 16, 32); if its rows are decoded already, "
            "declare the output format yolov5.")
    if family == output_format or (family, output_format) == (DetectorOutput.YOLOV5,
                                                              DetectorOutput.YOLOX):
        return int(shapes[0][2]) - 5 if rows is not None else None
    hint = (f" (they look like {CONTRACT[family]}: declare the output format "
            f"{'yolov5 or yolox' if family == DetectorOutput.YOLOV5 else family})"
            if family else "")
    raise ClassifierError(f"The model gives outputs of shapes {_describe(out)} for {batch} "
                          f"image(s); the output format {output_format} expects "
                          f"{CONTRACT[output_format]}{hint}.")


def yolox_cells(size: int) -> int:
    return sum((size // stride) ** 2 for stride in YOLOX_STRIDES)


def _opened(path: str) -> tuple[Callable, list | None, object, list]:
    """(call(images), input shape, input dtype, keep) of a Keras file, zipped SavedModel or
    frozen graph (.pb: services.frozengraph)."""
    import tensorflow as tf

    if path.lower().endswith(".pb"):
        from .frozengraph import open_frozen_graph

        call, shape, keep = open_frozen_graph(path)
        return call, shape, tf.float32, keep

    if is_zipped_saved_model(path):
        _, signature, name, spec, keep = open_saved_model(path)
        return (lambda images: signature(**{name: tf.cast(images, spec.dtype)}),
                spec_shape(spec), spec.dtype, keep)
    from .yolox import decode_layer_class

    decode_layer_class()  # the default detector's decoding layer, known before Keras loads
    model = open_keras(path)
    shape = model.input_shape
    return lambda images: model(images, training=False), shape, tf.float32, [model]


def _onnx_outputs(names: list[str], outs: list):
    """An ONNX model's outputs: by name when they are the boxes contract's, else in graph
    order (not sorted by name as a SavedModel's dict is)."""
    if all(any(n in names for n in keys) for keys in NAMES):
        return dict(zip(names, outs, strict=True))
    return outs


def _load_onnx(path: str, size: int | None, output_format: str) -> ProbedDetector:
    from .onnxmodel import open_onnx

    model = open_onnx(path)
    size = input_size_of(model.shape, size, what="a detector", unit="images")
    try:
        outs = model.run(np.zeros([2, size, size, 3], np.float32))
    except Exception as exc:  # onnxruntime's own error: shapes or types it cannot take
        raise ClassifierError(f"The model fails on {size}×{size} images: {exc}") from exc
    classes = check_outputs(_onnx_outputs(model.output_names, outs), 2, output_format, size)
    tf_call = model.tf_call([o.shape for o in outs])
    return ProbedDetector(lambda images: _onnx_outputs(model.output_names, tf_call(images)),
                          size, False, output_format, classes, [model])


def load_detector_file(path: str, size: int | None = None,
                       output_format: str = DetectorOutput.BOXES) -> ProbedDetector:
    """Open a Keras file, zipped SavedModel or ONNX file and probe it with blank images.

    ``size``: the side images are letterboxed to; None takes the model's own.
    ``output_format``: what the model was declared to give (DetectorOutput).
    Raises ClassifierError when the file is not such a model, does not take
    square RGB images or does not give outputs of that format (naming their
    shapes).
    """
    import tensorflow as tf

    if path.lower().endswith(".onnx"):
        return _load_onnx(path, size, output_format)
    call, shape, dtype, keep = _opened(path)
    size = input_size_of(shape, size, what="a detector", unit="images")
    batch_one = isinstance(shape, list | tuple) and len(shape) == 4 and shape[0] == 1
    probe_batch = 1 if batch_one else 2
    try:
        out = call(tf.zeros([probe_batch, size, size, 3], dtype))
    except Exception as exc:  # the model's own error: shapes or dtypes it cannot take
        raise ClassifierError(f"The model fails on {size}×{size} images: {exc}") from exc
    classes = check_outputs(out, probe_batch, output_format, size)
    return ProbedDetector(call, size, batch_one, output_format, classes, keep)


# --- the compiled pass -----------------------------------------------------------------
def category_lookup(category_map: dict) -> np.ndarray:
    """Model class number → category index 0..2, -1 for classes not mapped."""
    keys = [int(k) for k in category_map]
    lookup = np.full(max(keys, default=-1) + 1, -1, np.int32)
    for key, category in category_map.items():
        lookup[int(key)] = int(category) - 1
    return lookup


def _boxes_output(outputs, box_order: str, lookup: np.ndarray):
    """(boxes y1, x1, y2, x2 [b, N, 4], category scores [b, N, 3]) of contract (a)."""
    import tensorflow as tf

    boxes, scores, classes = (tf.cast(t, tf.float32) for t in outputs)
    if box_order == BoxOrder.XYXY:
        boxes = tf.gather(boxes, [1, 0, 3, 2], axis=-1)
    number = tf.cast(tf.round(classes), tf.int32)
    known = (number >= 0) & (number < len(lookup))
    # Python lengths, not len() of a tensor: the pass must trace with or without autograph.
    table = lookup if len(lookup) else np.array([-1], np.int32)
    category = tf.where(known, tf.gather(tf.constant(table),
                                         tf.clip_by_value(number, 0, len(table) - 1)), -1)
    return boxes, tf.one_hot(category, CATEGORIES) * scores[..., None]


def _yolo_output(rows, lookup: np.ndarray):
    """(boxes y1, x1, y2, x2 [b, N, 4], category scores [b, N, 3]) of contract (b)."""
    import tensorflow as tf

    rows = tf.cast(rows, tf.float32)
    cx, cy, w, h = (rows[..., i] for i in range(4))
    boxes = tf.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1)
    classes = rows.shape[-1] - 5
    # One class per box, its best (YOLOv5's and YOLOX's NMS without multi-label): a person
    # box does not come back as an animal box of a lower score too. Unmapped: dropped.
    best = rows[..., 5:] * tf.one_hot(tf.argmax(rows[..., 5:], axis=-1), classes)
    class_scores = rows[..., 4:5] * best
    mask = np.zeros((classes, CATEGORIES), np.float32)
    for number, category in enumerate(lookup[:len(mask)]):
        if category >= 0:
            mask[number, category] = 1.0
    return boxes, tf.reduce_max(class_scores[..., :, None] * mask, axis=-2)


def _yolox_decode(rows, size: int):
    """YOLOX's raw head rows → YOLO rows in input pixels (cx, cy, w, h, scores as they are)."""
    import tensorflow as tf

    cells, strides = yolox_grid(size, YOLOX_STRIDES)
    rows = tf.cast(rows, tf.float32)
    return tf.concat([(rows[..., :2] + cells) * strides, tf.exp(rows[..., 2:4]) * strides,
                      rows[..., 4:]], axis=-1)


def _unletterbox(boxes, geometry, size: int):
    """Boxes y1, x1, y2, x2 over the letterbox → left, top, right, bottom over the image."""
    import tensorflow as tf

    pad_y, pad_x, new_h, new_w = (geometry[:, None, i] for i in range(4))
    y1, x1, y2, x2 = (boxes[..., i] * size for i in range(4))
    ys = [tf.clip_by_value((y - pad_y) / new_h, 0.0, 1.0) for y in (y1, y2)]
    xs = [tf.clip_by_value((x - pad_x) / new_w, 0.0, 1.0) for x in (x1, x2)]
    return tf.stack([tf.minimum(*xs), tf.minimum(*ys), tf.maximum(*xs), tf.maximum(*ys)],
                    axis=-1)


def compile_detector(probed: ProbedDetector, *, box_order: str, category_map: dict,
                     nms_iou: float) -> Callable:
    """A tf.function: (images [b, s, s, 3], geometry [b, 4]) → boxes, scores, categories, count.

    Boxes are left, top, right, bottom over the original image; categories
    1..3; ``count[i]`` of image i's MAX_BOXES rows are real.
    """
    import tensorflow as tf

    lookup, size = category_lookup(category_map), probed.size

    def run(images, geometry):
        outputs = _outputs(probed.call(images))
        if probed.output_format == DetectorOutput.BOXES:  # normalised already
            boxes, scores = _boxes_output(outputs, box_order, lookup)
        else:  # YOLO rows in input pixels
            rows = outputs[0]
            if probed.output_format == DetectorOutput.YOLOX:
                rows = _yolox_decode(rows, size)
            boxes, scores = _yolo_output(rows, lookup)
            boxes = boxes / size
        kept = tf.image.combined_non_max_suppression(
            boxes[:, :, None, :], scores, max_output_size_per_class=MAX_BOXES,
            max_total_size=MAX_BOXES, iou_threshold=nms_iou, score_threshold=MIN_SCORE,
            clip_boxes=False)
        return (_unletterbox(kept.nmsed_boxes, geometry, size), kept.nmsed_scores,
                tf.cast(kept.nmsed_classes, tf.int32) + 1, kept.valid_detections)

    batch = 1 if probed.batch_one else None
    return tf.function(run, reduce_retracing=True, input_signature=[
        tf.TensorSpec([batch, size, size, 3], tf.float32), tf.TensorSpec([batch, 4], tf.float32)])


# --- the tf.data pipeline ---------------------------------------------------------------
def letterbox(data, ratio_index, size: int, *, top_left: bool = False,
              fill: float = PAD_VALUE):
    """Encoded ``data`` fitted into a size×size square: (image float32, geometry [4]).

    The image sits centred (``top_left`` False) or in the top-left corner;
    ``fill`` is the value of the rest (grey PAD_VALUE, or 0 for black).
    geometry: pad top, pad left, height and width of the image inside the square.
    """
    import tensorflow as tf

    image = decode_image(data, ratio_index)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    inner = tf.maximum(tf.cast(tf.round(shape * size / tf.reduce_max(shape)), tf.int32), 1)
    resized = tf.image.resize(tf.cast(image, tf.float32), inner, antialias=True)
    pad = tf.zeros_like(inner) if top_left else (size - inner) // 2
    square = tf.pad(resized - fill, [[pad[0], size - inner[0] - pad[0]],
                                     [pad[1], size - inner[1] - pad[1]], [0, 0]]) + fill
    return tf.ensure_shape(square, [size, size, 3]), tf.cast(tf.concat([pad, inner], 0),
                                                             tf.float32)


def ratio_index(longest: int | None, size: int) -> int:
    """Index into JPEG_RATIOS of the coarsest decode whose longest side stays ≥ 2× ``size``."""
    index = 0
    while longest and index + 1 < len(JPEG_RATIOS) and (
            longest / JPEG_RATIOS[index + 1] >= 2 * size):
        index += 1
    return index


def image_dataset(items: Iterable[DetectImage], size: int, preprocessing: str, batch: int, *,
                  read: Callable[[str], bytes] = read_stored, failures: list | None = None,
                  top_left: bool = False, fill: float = PAD_VALUE):
    """A tf.data pipeline of (image ids [b], letterboxed images [b, s, s, 3], geometry [b, 4]).

    ``top_left`` and ``fill``: see ``letterbox``.

    A failed read stops the stream and lands in ``failures`` (see
    services.inference.stored_images).
    """
    import tensorflow as tf

    dataset = stored_images(
        items, read, lambda item, data: (
            data, np.int64(item.id), np.int32(ratio_index(item.longest, size))),
        (tf.TensorSpec((), tf.string), tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.int32)),
        [] if failures is None else failures)
    dataset = dataset.map(lambda data, image_id, ratio: (image_id, *letterbox(
        data, ratio, size, top_left=top_left, fill=fill)), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch).map(
        lambda ids, images, geometry: (ids, scale(images, preprocessing), geometry)).prefetch(2)


@dataclass
class LoadedDetector:
    """A registered detector's model compiled with its options, ready for batches."""

    run: Callable
    probed: ProbedDetector

    @property
    def batch(self) -> int:
        return 1 if self.probed.batch_one else settings.DETECT_BATCH


def detections(loaded: LoadedDetector, items: Iterable[DetectImage], preprocessing: str, *,
               read: Callable[[str], bytes] = read_stored, top_left: bool = False,
               fill: float = PAD_VALUE) -> Iterator[tuple[list[int], list[list[Box]]]]:
    """(image ids, their boxes) per batch of images, in the order given."""
    failures: list = []
    for ids, images, geometry in image_dataset(items, loaded.probed.size, preprocessing,
                                               loaded.batch, read=read, failures=failures,
                                               top_left=top_left, fill=fill):
        boxes, scores, categories, counts = (t.numpy() for t in loaded.run(images, geometry))
        found = []
        for i, count in enumerate(counts):
            found.append([Box(*(round(float(v), 5) for v in boxes[i, j]),
                              score=round(float(scores[i, j]), 4), category=int(categories[i, j]))
                          for j in range(count)
                          if boxes[i, j, 2] > boxes[i, j, 0] and boxes[i, j, 3] > boxes[i, j, 1]])
        yield [int(i) for i in ids.numpy()], found
    if failures:
        raise failures[0]


@functools.lru_cache(maxsize=2)
def _stored_detector(model_key: str, size: int, output_format: str, box_order: str,
                     category_map: tuple, nms_iou: float, _stamp: str) -> LoadedDetector:
    probed = load_stored(model_key, lambda path: load_detector_file(path, size, output_format),
                         what="detector model")
    return LoadedDetector(compile_detector(probed, box_order=box_order,
                                           category_map=dict(category_map), nms_iou=nms_iou),
                          probed)


def stored_detector(detector) -> LoadedDetector:
    """The detector's model, compiled once per process (and per change of its options)."""
    return _stored_detector(detector.model_key, detector.input_size, detector.output_format,
                            detector.box_order, tuple(sorted(detector.category_map.items())),
                            detector.nms_iou, detector.created_at.isoformat())
