"""A frozen TensorFlow graph (a GraphDef ``.pb``, as MegaDetector v4.1 ships) as a detector.

The TensorFlow Object Detection API's frozen graphs take ``image_tensor``
(uint8 [batch, height, width, 3], RGB 0..255) and give ``detection_boxes``
(normalised y1, x1, y2, x2), ``detection_scores`` and ``detection_classes``
(numbered from 1): the ``boxes`` output format. The file is parsed as a
protocol buffer and every node's op checked against the same allow-list as a
SavedModel's (services.graphcheck, TF1 control flow and TensorArrays
included) before TensorFlow imports it; the graph is then imported into a
wrapped function pruned to those tensors, so nothing else in it can run.
"""

from __future__ import annotations

import os

from ..exceptions import ClassifierError
from .graphcheck import SERVING, check_graph
from .modelfiles import MAX_MODEL_BYTES

INPUT = "image_tensor"
OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes")


def read_graph_def(path: str):
    """The checked GraphDef in the file at ``path``; ClassifierError naming what is wrong."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    if os.path.getsize(path) > MAX_MODEL_BYTES:
        raise ClassifierError(f"The frozen graph is larger than {MAX_MODEL_BYTES // 1024**2} MB.")
    graph_def = graph_pb2.GraphDef()
    try:
        with open(path, "rb") as fh:
            graph_def.ParseFromString(fh.read())
    except (DecodeError, RecursionError, ValueError) as exc:
        raise ClassifierError(f"The file is not a frozen TensorFlow graph, or it is cut short "
                              f"({exc}).") from exc
    names = {node.name for node in graph_def.node}
    missing = [name for name in (INPUT, *OUTPUTS) if name not in names]
    if missing:
        raise ClassifierError(
            f"The frozen graph has no {', '.join(missing)} node; a frozen detector takes "
            f"{INPUT} (uint8 images) and gives {', '.join(OUTPUTS)}, as the TensorFlow "
            "Object Detection API exports (MegaDetector v4.1).")
    # The graph check reads meta graphs: this one's serving signature is the three outputs.
    meta = meta_graph_pb2.MetaGraphDef()
    meta.graph_def.CopyFrom(graph_def)
    for name in OUTPUTS:
        meta.signature_def[SERVING].outputs[name].name = f"{name}:0"
    check_graph(meta)
    return graph_def


def open_frozen_graph(path: str):
    """(call(images), input shape [None, None, None, 3], keep) of a checked frozen graph."""
    import tensorflow as tf

    graph_def = read_graph_def(path)

    def imported():
        tf.compat.v1.import_graph_def(graph_def, name="")

    try:
        wrapped = tf.compat.v1.wrap_function(imported, [])
        pruned = wrapped.prune(feeds=f"{INPUT}:0", fetches=[f"{n}:0" for n in OUTPUTS])
    except Exception as exc:  # TensorFlow's own error names the node it cannot import
        raise ClassifierError(f"TensorFlow cannot import the frozen graph: {exc}") from exc

    def call(images):
        boxes, scores, classes = pruned(tf.cast(tf.clip_by_value(tf.round(images), 0, 255),
                                                tf.uint8))
        return {"detection_boxes": boxes, "detection_scores": scores,
                "detection_classes": classes}
    return call, [None, None, None, 3], [wrapped, pruned]
