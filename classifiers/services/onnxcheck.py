"""Reading an ONNX model file without running it: only standard operators, no outside files.

An ONNX file is a graph that onnxruntime runs, so before any runtime sees it
``check_onnx_model`` parses it as protocol buffers (nothing is built or run)
and refuses, naming the operator, field or tensor:

* operators outside the standard ``ai.onnx`` domain (custom domains such as
  ``com.microsoft`` or a vendor's, whose kernels are native code loaded from
  a library), and standard operators outside ALLOWED_OPS (image decoding,
  string and regex ops, random generators: nothing a detector needs);
* model-local functions (they define operators of their own domain) and
  training information;
* tensors stored in external data files (``data_location: EXTERNAL``): their
  ``location`` is a path the runtime would open, outside the upload;
* a file over MAX_MODEL_BYTES (protocol buffers cannot hold more), more than
  MAX_NODES operators, or subgraphs (``If``/``Loop``/``Scan`` bodies) nested
  deeper than MAX_DEPTH.

Every subgraph is walked like the main graph. Runs in the registration's child
process (services.sandbox) and in a worker before it loads a stored model.
"""

from __future__ import annotations

import os

from ..exceptions import ClassifierError
from .modelfiles import MAX_MODEL_BYTES

STANDARD_DOMAINS = ("", "ai.onnx")
MAX_NODES = 200_000
MAX_DEPTH = 8

# Pure tensor operators of the standard domain that detectors and classifiers use.
ALLOWED_OPS = frozenset("""
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization
BitShift BitwiseAnd BitwiseNot BitwiseOr BitwiseXor Cast CastLike Ceil Celu Clip Compress
Concat Constant ConstantOfShape Conv ConvInteger ConvTranspose Cos Cosh CumSum DepthToSpace
DequantizeLinear Det Div Dropout DynamicQuantizeLinear Einsum Elu Equal Erf Exp Expand
EyeLike Flatten Floor GRU Gather GatherElements GatherND Gelu Gemm GlobalAveragePool
GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GridSample GroupNormalization HardSigmoid
HardSwish Hardmax Identity If InstanceNormalization IsInf IsNaN LRN LSTM LayerNormalization
LeakyRelu Less LessOrEqual Log LogSoftmax Loop LpNormalization LpPool MatMul MatMulInteger
Max MaxPool MaxRoiPool MaxUnpool Mean MeanVarianceNormalization Min Mish Mod Mul Neg
NonMaxSuppression NonZero Not OneHot Or PRelu Pad Pow QLinearConv QLinearMatMul
QuantizeLinear RNN Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax
ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize RoiAlign Round
Scan Scatter ScatterElements ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice
Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu
Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor
""".split())


def _external(tensor) -> bool:
    from onnx import TensorProto

    return tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data) > 0


def _refuse_external(tensor, where: str) -> None:
    if _external(tensor):
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        raise ClassifierError(
            f"The ONNX model keeps tensor {tensor.name or '(unnamed)'!r} ({where}) in an "
            f"external data file{f' {location!r}' if location else ''}; only self-contained "
            "files are accepted. Save the model with all tensors inside the .onnx file "
            "(onnx.save_model(..., save_as_external_data=False)).")


class _Walk:
    def __init__(self):
        self.nodes = 0

    def graph(self, graph, where: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ClassifierError(f"The ONNX model nests subgraphs deeper than {MAX_DEPTH} "
                                  f"levels ({where}).")
        for tensor in graph.initializer:
            _refuse_external(tensor, f"initializer of {where}")
        for sparse in graph.sparse_initializer:
            for tensor in (sparse.values, sparse.indices):
                _refuse_external(tensor, f"sparse initializer of {where}")
        for node in graph.node:
            self.node(node, where, depth)

    def node(self, node, where: str, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ClassifierError(f"The ONNX model has more than {MAX_NODES} operators.")
        name = f"node {node.name or '(unnamed)'!r} in {where}"
        if node.domain not in STANDARD_DOMAINS:
            raise ClassifierError(
                f"The ONNX model uses the operator {node.op_type} of the custom domain "
                f"{node.domain!r} ({name}); only the standard ai.onnx operators are accepted. "
                "Export the model without custom operators.")
        if node.op_type not in ALLOWED_OPS:
            raise ClassifierError(
                f"The ONNX model uses the operator {node.op_type} ({name}), which a detector "
                "may not use here (only tensor and neural-network operators are accepted). "
                "Export the model without it.")
        for attr in node.attribute:
            for tensor in [attr.t, *attr.tensors] if attr.HasField("t") else attr.tensors:
                _refuse_external(tensor, f"attribute {attr.name} of {name}")
            for sparse in ([attr.sparse_tensor] if attr.HasField("sparse_tensor") else []) + list(
                    attr.sparse_tensors):
                for tensor in (sparse.values, sparse.indices):
                    _refuse_external(tensor, f"attribute {attr.name} of {name}")
            subgraphs = ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
            for sub in subgraphs:
                self.graph(sub, f"subgraph {attr.name} of {name}", depth + 1)


def parse_onnx(data: bytes):
    """The ModelProto in ``data`` (parsed, not loaded); ClassifierError when it is none."""
    from google.protobuf.message import DecodeError
    from onnx import ModelProto

    if len(data) > MAX_MODEL_BYTES:
        raise ClassifierError(f"The ONNX model is larger than {MAX_MODEL_BYTES // 1024**2} MB.")
    model = ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise ClassifierError(f"The file is not an ONNX model, or it is cut short ({exc}); "
                              "export it again.") from exc
    if not model.HasField("graph") or not model.graph.node or not model.graph.output \
            or not model.ir_version:
        raise ClassifierError("The file is not an ONNX model, or it is cut short: it has no "
                              "graph, operators or outputs; export it again.")
    return model


def check_onnx_model(data: bytes):
    """Parse ``data`` and check it (see the module docstring); returns the ModelProto.

    Raises ClassifierError naming the operator, domain or tensor refused.
    """
    model = parse_onnx(data)
    _Walk().graph(model.graph, "the main graph", 0)  # first: its refusals name the operator
    for opset in model.opset_import:
        if opset.domain not in STANDARD_DOMAINS:
            raise ClassifierError(
                f"The ONNX model imports the operator set of the custom domain "
                f"{opset.domain!r}; only the standard ai.onnx operators are accepted.")
    if model.functions:
        raise ClassifierError(
            f"The ONNX model defines functions of its own ({model.functions[0].name!r} of "
            f"{model.functions[0].domain!r}); only the standard ai.onnx operators are accepted.")
    if model.training_info:
        raise ClassifierError("The ONNX model holds training information; export it for "
                              "inference only.")
    return model


def read_checked_onnx(path: str) -> bytes:
    """The bytes of the ONNX file at ``path``, checked: the runtime gets these same bytes."""
    size = os.path.getsize(path)
    if size > MAX_MODEL_BYTES:
        raise ClassifierError(f"The ONNX model is larger than {MAX_MODEL_BYTES // 1024**2} MB.")
    with open(path, "rb") as fh:
        data = fh.read()
    check_onnx_model(data)
    return data
