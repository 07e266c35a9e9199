"""The default animal detector: zamba's camera-trap YOLOX-tiny, ported to Keras 3.

zamba 2.7.2 (MIT, installed with --no-deps from requirements/detector.txt)
ships ``yolox_tiny_640_20220528.pth``: a one-class ("animal") YOLOX-tiny
trained on camera-trap video frames (zamba calls it MegadetectorLite). Its
weights are read without PyTorch (services.torch_checkpoint) and mapped by
name onto the same network built here from standard Keras layers:

* Focus stem: the 640×640×3 input rearranged to 320×320×12 (YOLOX's order of
  the four pixel phases: top-left, bottom-left, top-right, bottom-right);
* CSPDarknet backbone (depth 0.33, width 0.375), PAFPN neck, decoupled head
  with one class, SiLU everywhere;
* each convolution's batch norm folded into it (YOLOX's eps 1e-3);
  PyTorch's OIHW kernels become Keras's HWIO; a stride-2 convolution pads one
  pixel on every side, as PyTorch does (Keras's "same" would pad only after).

The model ends in ``YoloxDecode``: grid + stride decoding into raw YOLO rows
[batch, 8400, 6] (cx, cy, w, h in input pixels, objectness, class score, both
after the sigmoid), the output contract (b) of services.detector_inference.
Preprocessing (``pad_top_left``) and post-processing (``boxes_of``) here are
the original's, for checking the port against it.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..exceptions import ClassifierError

SIZE = 640
STRIDES = (8, 16, 32)
DEPTH, WIDTH = 0.33, 0.375
BN_EPS = 1e-3  # YOLOX's (init_yolo), not PyTorch's default 1e-5
CONFIDENCE, NMS_IOU = 0.25, 0.45  # zamba's MegadetectorLite defaults
ASSETS = "object_detection/yolox/assets"
WEIGHTS = "yolox_tiny_640_20220528.pth"


def asset_path(name: str = WEIGHTS) -> Path | None:
    """The file ``name`` among the installed zamba wheel's YOLOX assets, None when absent.

    Found without importing zamba (its imports need numpy<2 and PyTorch).
    """
    spec = importlib.util.find_spec("zamba")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / ASSETS / name
        if path.is_file():
            return path
    return None


# --- the network --------------------------------------------------------------------------
def _channels(n: int) -> int:
    return int(n * WIDTH)


def _depth(n: int) -> int:
    return max(round(n * DEPTH), 1)


def _conv(x, out: int, kernel: int, stride: int, name: str):
    """YOLOX's BaseConv (conv, folded batch norm, SiLU), named for its PyTorch module."""
    import keras

    if stride > 1:
        x = keras.layers.ZeroPadding2D((kernel - 1) // 2, name=f"{name}.pad")(x)
    x = keras.layers.Conv2D(out, kernel, stride, padding="valid" if stride > 1 else "same",
                            name=name)(x)
    return keras.layers.Activation("silu", name=f"{name}.act")(x)


def _csp(x, out: int, n: int, shortcut: bool, name: str):
    """YOLOX's CSPLayer: two 1×1 branches, n bottlenecks on one, joined by a 1×1."""
    import keras

    hidden = int(out * 0.5)
    x1 = _conv(x, hidden, 1, 1, f"{name}.conv1")
    x2 = _conv(x, hidden, 1, 1, f"{name}.conv2")
    for i in range(n):
        y = _conv(x1, hidden, 1, 1, f"{name}.m.{i}.conv1")
        y = _conv(y, hidden, 3, 1, f"{name}.m.{i}.conv2")
        x1 = keras.layers.Add(name=f"{name}.m.{i}.add")([y, x1]) if shortcut else y
    joined = keras.layers.Concatenate(name=f"{name}.cat")([x1, x2])
    return _conv(joined, out, 1, 1, f"{name}.conv3")


def _spp(x, out: int, name: str):
    """YOLOX's SPPBottleneck: max pools of 5, 9 and 13 beside the input."""
    import keras

    hidden = x.shape[-1] // 2
    x = _conv(x, hidden, 1, 1, f"{name}.conv1")
    pools = [keras.layers.MaxPooling2D(k, 1, padding="same", name=f"{name}.pool{k}")(x)
             for k in (5, 9, 13)]
    x = keras.layers.Concatenate(name=f"{name}.cat")([x, *pools])
    return _conv(x, out, 1, 1, f"{name}.conv2")


def _focus(x):
    """640×640×3 → 320×320×12, channels in YOLOX's phase order (dx, dy, rgb)."""
    import keras

    half = SIZE // 2
    x = keras.layers.Reshape((half, 2, half, 2, 3), name="focus.split")(x)  # h, dy, w, dx, c
    x = keras.layers.Permute((1, 3, 4, 2, 5), name="focus.order")(x)  # h, w, dx, dy, c
    return keras.layers.Reshape((half, half, 12), name="focus.join")(x)


def _backbone(x):
    """CSPDarknet: the dark3, dark4 and dark5 features."""
    base, depth = _channels(64), _depth(3)
    name = "backbone.backbone"
    x = _conv(_focus(x), base, 3, 1, f"{name}.stem.conv")
    features = []
    for stage, (out, n) in enumerate(((base * 2, depth), (base * 4, depth * 3),
                                      (base * 8, depth * 3), (base * 16, depth)), start=2):
        x = _conv(x, out, 3, 2, f"{name}.dark{stage}.0")
        if stage == 5:
            x = _spp(x, out, f"{name}.dark5.1")
            x = _csp(x, out, n, False, f"{name}.dark5.2")
        else:
            x = _csp(x, out, n, True, f"{name}.dark{stage}.1")
        features.append(x)
    return features[1:]


def _pafpn(dark3, dark4, dark5):
    """YOLOX's PAFPN: top-down then bottom-up; outputs at strides 8, 16 and 32."""
    import keras

    n, name = _depth(3), "backbone"
    up = functools.partial(keras.layers.UpSampling2D, 2, interpolation="nearest")
    fpn_out0 = _conv(dark5, _channels(512), 1, 1, f"{name}.lateral_conv0")
    f_out0 = keras.layers.Concatenate(name=f"{name}.cat_p4")([up(name=f"{name}.up0")(fpn_out0),
                                                              dark4])
    f_out0 = _csp(f_out0, _channels(512), n, False, f"{name}.C3_p4")
    fpn_out1 = _conv(f_out0, _channels(256), 1, 1, f"{name}.reduce_conv1")
    f_out1 = keras.layers.Concatenate(name=f"{name}.cat_p3")([up(name=f"{name}.up1")(fpn_out1),
                                                              dark3])
    pan_out2 = _csp(f_out1, _channels(256), n, False, f"{name}.C3_p3")
    p_out1 = _conv(pan_out2, _channels(256), 3, 2, f"{name}.bu_conv2")
    p_out1 = keras.layers.Concatenate(name=f"{name}.cat_n3")([p_out1, fpn_out1])
    pan_out1 = _csp(p_out1, _channels(512), n, False, f"{name}.C3_n3")
    p_out0 = _conv(pan_out1, _channels(512), 3, 2, f"{name}.bu_conv1")
    p_out0 = keras.layers.Concatenate(name=f"{name}.cat_n4")([p_out0, fpn_out0])
    pan_out0 = _csp(p_out0, _channels(1024), n, False, f"{name}.C3_n4")
    return pan_out2, pan_out1, pan_out0


def _head(features, classes: int):
    """The decoupled head: per level [b, h·w, 4 + 1 + classes] raw (before decoding)."""
    import keras

    hidden, levels = _channels(256), []
    for i, x in enumerate(features):
        x = _conv(x, hidden, 1, 1, f"head.stems.{i}")
        cls_feat = _conv(_conv(x, hidden, 3, 1, f"head.cls_convs.{i}.0"), hidden, 3, 1,
                         f"head.cls_convs.{i}.1")
        reg_feat = _conv(_conv(x, hidden, 3, 1, f"head.reg_convs.{i}.0"), hidden, 3, 1,
                         f"head.reg_convs.{i}.1")
        reg = keras.layers.Conv2D(4, 1, name=f"head.reg_preds.{i}")(reg_feat)
        obj = keras.layers.Conv2D(1, 1, activation="sigmoid", name=f"head.obj_preds.{i}")(
            reg_feat)
        cls = keras.layers.Conv2D(classes, 1, activation="sigmoid", name=f"head.cls_preds.{i}")(
            cls_feat)
        level = keras.layers.Concatenate(name=f"head.cat.{i}")([reg, obj, cls])
        cells = level.shape[1] * level.shape[2]
        levels.append(keras.layers.Reshape((cells, 5 + classes), name=f"head.rows.{i}")(level))
    return keras.layers.Concatenate(axis=1, name="head.rows")(levels)


def grid(size: int = SIZE, strides=STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """(cell x, y [1, rows, 2], stride [1, rows, 1]) of each raw head row, in YOLOX's order:
    stride by stride, each grid row by row (x fastest)."""
    grids, steps = [], []
    for stride in strides:
        cells = size // stride
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grids.append(np.stack([xs.ravel(), ys.ravel()], axis=-1))
        steps.append(np.full((cells * cells, 1), stride))
    return (np.concatenate(grids).astype(np.float32)[None],
            np.concatenate(steps).astype(np.float32)[None])


def _decode_layer():
    """YoloxDecode, registered with Keras once (a .keras file names it to be loaded)."""
    import keras

    @keras.saving.register_keras_serializable(package="traptagger", name="YoloxDecode")
    class YoloxDecode(keras.layers.Layer):
        """Raw head rows → cx, cy, w, h in input pixels: (raw xy + cell) × stride,
        exp(raw wh) × stride; scores pass through. No weights: the grid follows from
        the input size and strides."""

        def __init__(self, size: int = SIZE, strides=STRIDES, **kwargs):
            super().__init__(**kwargs)
            self.size, self.strides = int(size), tuple(int(s) for s in strides)
            self._grid, self._stride = grid(self.size, self.strides)

        def call(self, rows):
            from keras import ops

            xy = (rows[..., :2] + ops.convert_to_tensor(self._grid)) * self._stride
            wh = ops.exp(rows[..., 2:4]) * self._stride
            return ops.concatenate([xy, wh, rows[..., 4:]], axis=-1)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "size": self.size, "strides": list(self.strides)}

    return YoloxDecode


@functools.cache
def decode_layer_class():
    """The registered YoloxDecode class (import this before loading a .keras YOLOX file)."""
    return _decode_layer()


def build_model(classes: int = 1):
    """YOLOX-tiny for 640×640 RGB 0..255 float input, weights uninitialised."""
    import keras

    images = keras.Input((SIZE, SIZE, 3), name="images")
    rows = _head(_pafpn(*_backbone(images)), classes)
    rows = decode_layer_class()(name="decode")(rows)
    return keras.Model(images, rows, name="yolox_tiny")


# --- the weights --------------------------------------------------------------------------
def _hwio(weight: np.ndarray) -> np.ndarray:
    return np.transpose(weight, (2, 3, 1, 0))


def _folded(state: dict, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """(kernel HWIO, bias) of a BaseConv with its batch norm folded in."""
    gamma, beta = state[f"{prefix}.bn.weight"], state[f"{prefix}.bn.bias"]
    mean, var = state[f"{prefix}.bn.running_mean"], state[f"{prefix}.bn.running_var"]
    factor = gamma / np.sqrt(var + BN_EPS)
    kernel = state[f"{prefix}.conv.weight"] * factor[:, None, None, None]
    return _hwio(kernel), beta - mean * factor


def load_weights(model, state: dict[str, np.ndarray]) -> None:
    """Set every convolution of ``model`` from the PyTorch state dict, by module name.

    Raises ClassifierError when a layer has no weights in ``state``, shapes
    differ, or ``state`` holds weights no layer took (another architecture).
    """
    import keras

    used: set[str] = set()
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        name = layer.name
        if f"{name}.conv.weight" in state:
            kernel, bias = _folded(state, name)
            used |= {f"{name}.conv.weight"} | {f"{name}.bn.{k}" for k in (
                "weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
        elif f"{name}.weight" in state:
            kernel, bias = _hwio(state[f"{name}.weight"]), state[f"{name}.bias"]
            used |= {f"{name}.weight", f"{name}.bias"}
        else:
            raise ClassifierError(f"The checkpoint has no weights for {name}.")
        expected = tuple(layer.kernel.shape)
        if kernel.shape != expected:
            raise ClassifierError(f"The checkpoint's {name} is {kernel.shape} (HWIO), the "
                                  f"network's {expected}: another architecture.")
        layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    left = sorted(set(state) - used)
    if left:
        raise ClassifierError(f"The checkpoint holds {len(left)} weights the network lacks "
                              f"(first {left[0]}): another architecture.")


def model_from_checkpoint(path: str | Path | None = None):
    """The YOLOX-tiny Keras model with the checkpoint's weights (zamba's when ``path`` is None).

    Raises ClassifierError when zamba's asset is not installed or the
    checkpoint does not fit the network.
    """
    from .torch_checkpoint import read_state_dict

    path = path or asset_path()
    if path is None:
        raise ClassifierError(f"zamba's {WEIGHTS} is not installed: pip install --no-deps "
                              "-r requirements/detector.txt (make does this).")
    state = read_state_dict(str(path))
    classes = state["head.cls_preds.0.bias"].shape[0] if "head.cls_preds.0.bias" in state else 1
    model = build_model(classes)
    load_weights(model, state)
    return model


# --- the original's pre- and post-processing (for checking the port) ----------------------
def pad_top_left(image: Image.Image) -> tuple[np.ndarray, float]:
    """(640×640×3 float32 0..255, scale): resized so its longest side is 640 (bicubic), in
    the top-left corner of a black square, as zamba's MegadetectorLite feeds YOLOX."""
    image = image.convert("RGB")
    padded = ImageOps.pad(image, (SIZE, SIZE), method=Image.BICUBIC, centering=(0, 0))
    return np.asarray(padded, np.float32), SIZE / max(image.size)


def _nms(corners: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy non-max suppression by score: indices kept."""
    order, kept = list(np.argsort(-scores, kind="stable")), []
    areas = (corners[:, 2] - corners[:, 0]) * (corners[:, 3] - corners[:, 1])
    while order:
        best, order = order[0], order[1:]
        kept.append(best)
        if not order:
            break
        rest = np.array(order)
        top_left = np.maximum(corners[best, :2], corners[rest, :2])
        bottom_right = np.minimum(corners[best, 2:], corners[rest, 2:])
        inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
        overlap = inter / (areas[best] + areas[rest] - inter)
        order = [i for i, o in zip(rest, overlap, strict=True) if o <= iou]
    return kept


def boxes_of(rows: np.ndarray, scale: float, width: int, height: int, *,
             confidence: float = CONFIDENCE, nms_iou: float = NMS_IOU,
             ) -> list[tuple[float, list[float]]]:
    """[(score, [x1, y1, x2, y2] as 0..1 of the photo)] of one image's decoded rows, best first.

    score = objectness × best class score; kept at ``confidence`` and above,
    then greedy NMS at ``nms_iou``; boxes scaled back by ``scale`` (640 /
    longest side) and clipped to the photo.
    """
    scores = rows[:, 4] * rows[:, 5:].max(axis=1)
    keep = scores >= confidence
    rows, scores = rows[keep], scores[keep]
    cx, cy, w, h = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    corners = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    found = []
    for i in _nms(corners, scores, nms_iou):
        x1, y1, x2, y2 = corners[i] / scale
        box = [float(np.clip(v, 0.0, 1.0)) for v in (x1 / width, y1 / height, x2 / width,
                                                     y2 / height)]
        found.append((float(scores[i]), box))
    return found


def detect_photos(model, images: list[Image.Image], batch: int = 8,
                  ) -> list[list[tuple[float, list[float]]]]:
    """``boxes_of`` each image, run through ``model`` in batches (the original's pipeline)."""
    results = []
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch]
        padded = [pad_top_left(image) for image in chunk]
        rows = np.asarray(model(np.stack([p for p, _ in padded]), training=False))
        for image, (_, scale), image_rows in zip(chunk, padded, rows, strict=True):
            results.append(boxes_of(image_rows, scale, *image.size))
    return results
