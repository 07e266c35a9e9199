"""An ONNX detector run by onnxruntime (CPU) inside the compiled TensorFlow pass.

``open_onnx`` reads the file once, checks those bytes (services.onnxcheck:
standard operators only, no external data) and hands the same bytes to
onnxruntime, so what runs is what was checked. The model takes one image
input, NCHW (``[batch, 3, h, w]``, as PyTorch exports: YOLOv5, MegaDetector v5,
YOLOX) or NHWC (``[batch, h, w, 3]``); its batch may be fixed (an export
without dynamic axes takes exactly 1): larger batches are then run in chunks
of that size, so the tf.data pipeline still batches reading, decoding and
letterboxing, and decoding and NMS stay one compiled pass per batch.
``tf_call`` wraps the session in ``tf.numpy_function`` for that pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import ClassifierError
from .onnxcheck import read_checked_onnx

DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
          "tensor(double)": np.float64, "tensor(uint8)": np.uint8}


@dataclass
class OnnxModel:
    session: object
    input_name: str
    output_names: list[str]
    nchw: bool
    batch: int | None  # a fixed batch size, None when the export's batch axis is dynamic
    dtype: type
    shape: list  # batch, height, width, 3 (None where the export leaves it open)

    def run(self, images: np.ndarray) -> list[np.ndarray]:
        """Float32 outputs for ``images`` [b, h, w, 3] (float, already scaled)."""
        x = np.asarray(images)
        if self.dtype is np.uint8:
            x = np.clip(np.round(x), 0, 255)
        x = x.astype(self.dtype)
        if self.nchw:
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        if self.batch is None:
            return [np.asarray(o, np.float32) for o in self.session.run(
                None, {self.input_name: x})]
        chunks = []
        for start in range(0, len(x), self.batch):
            part = x[start:start + self.batch]
            short = self.batch - len(part)
            if short:  # a last chunk smaller than the fixed batch: pad with blanks, drop later
                part = np.concatenate([part, np.zeros((short, *part.shape[1:]), part.dtype)])
            outs = self.session.run(None, {self.input_name: part})
            chunks.append([np.asarray(o, np.float32)[:self.batch - short] for o in outs])
        return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]

    def tf_call(self, shapes: list[tuple]):
        """images tensor → the outputs in graph order (shapes ``shapes`` but the batch)."""
        import tensorflow as tf

        def call(images):
            outs = tf.numpy_function(lambda x: self.run(x), [images],
                                     [tf.float32] * len(self.output_names), stateful=False)
            for out, shape in zip(outs, shapes, strict=True):
                out.set_shape([None, *shape[1:]])
            return list(outs)
        return call


def _dim(value) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def open_onnx(path: str) -> OnnxModel:
    """The checked ONNX model at ``path`` in an onnxruntime CPU session.

    Raises ClassifierError when the file is refused (services.onnxcheck), the
    runtime cannot load it, or it does not take one batch of RGB images.
    """
    import onnxruntime as ort

    data = read_checked_onnx(path)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own kinds for a model it cannot run
        raise ClassifierError(f"onnxruntime cannot load the ONNX model: {exc}") from exc
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ClassifierError(f"The ONNX model takes {len(inputs)} inputs "
                              f"({', '.join(i.name for i in inputs)}); a detector takes one "
                              "batch of images.")
    spec = inputs[0]
    dims = [_dim(d) for d in spec.shape]
    if spec.type not in DTYPES or len(dims) != 4 or 3 not in (dims[1], dims[3]):
        raise ClassifierError(f"The ONNX model's input {spec.name!r} is {spec.type} of shape "
                              f"{list(spec.shape)}; a detector takes float or uint8 RGB images "
                              "[batch, 3, size, size] (NCHW) or [batch, size, size, 3].")
    nchw = dims[1] == 3 and dims[3] != 3
    shape = [dims[0], dims[2], dims[3], 3] if nchw else dims
    return OnnxModel(session, spec.name, [o.name for o in session.get_outputs()], nchw,
                     dims[0], DTYPES[spec.type], shape)
