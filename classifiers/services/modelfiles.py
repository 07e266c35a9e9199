"""Model files users upload (Keras files, zipped SavedModels): opened safely, from disk or storage.

Shared by classifiers (services.inference) and detectors (services.detector_inference):
both accept the same kinds of file and refuse them in the same words. Used by the
registration check's child process (services.sandbox) and by workers loading a
stored model, so both get the same guards: a zip is held to the MODEL_ZIP_* limits
from its central directory before extraction and while it is written (a zip naming
a path outside its folder is refused before anything is written); a SavedModel's
graph is read and checked op by op (services.graphcheck) before TensorFlow loads
it; a Keras file loads in Keras's safe mode. The extracted folder must live as long
as the model (returned in ``keep``).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.files.storage import default_storage

from ..exceptions import ClassifierError
from .graphcheck import check_saved_model_ops

MODEL_SUFFIXES = (".keras", ".h5", ".zip")
# Detectors may also be ONNX (services.onnxmodel) or a frozen graph (services.frozengraph).
DETECTOR_SUFFIXES = (*MODEL_SUFFIXES, ".onnx", ".pb")
MAX_MODEL_BYTES = 2 * 1024**3

T = TypeVar("T")


def model_suffix(filename: str, kind: str = "classifier") -> str:
    """The file's suffix when it is one a ``kind`` ("classifier" or "detector") model file
    may have; ClassifierError otherwise."""
    suffix = os.path.splitext(filename.lower())[1]
    if kind == "detector" and suffix not in DETECTOR_SUFFIXES:
        raise ClassifierError(f"{filename}: a detector's model file is a Keras file (.keras, "
                              ".h5), a zipped TensorFlow SavedModel folder (.zip), an ONNX "
                              "file (.onnx) or a frozen TensorFlow graph (.pb).")
    if kind != "detector" and suffix not in MODEL_SUFFIXES:
        raise ClassifierError(f"{filename}: a model file is a Keras file (.keras, .h5) or a "
                              "zipped TensorFlow SavedModel folder (.zip).")
    return suffix


def is_zipped_saved_model(path: str) -> bool:
    # A .keras file is a zip too, of another kind.
    return zipfile.is_zipfile(path) and not path.endswith(".keras")


def open_keras(path: str):
    """The Keras model in the file at ``path`` (not compiled); ClassifierError if it is none."""
    import keras

    if zipfile.is_zipfile(path):  # a .keras file is a zip: held to the same limits
        check_zip(path)
    try:
        # safe_mode: no Python lambdas deserialised from the file's config.
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many kinds for a file that is not a model
        raise ClassifierError(f"The file is not a Keras model this version can read: {exc}") \
            from exc


# Members smaller than this are not held to MODEL_ZIP_MAX_RATIO: a small file of zeros
# compresses far but cannot fill a disk.
RATIO_FLOOR = 1024**2
CHUNK = 1024**2
# Graph files TensorFlow can load instead of saved_model.pb (text, chunked): refused, since
# only saved_model.pb is read by the graph check.
OTHER_GRAPH_FILES = ("saved_model.pbtxt", "saved_model.cpb")


def check_zip(path: str) -> list[zipfile.ZipInfo]:
    """The members of the zip at ``path``, checked from its central directory before extraction.

    Refuses (ClassifierError naming the setting) a zip of more than
    MODEL_ZIP_MAX_FILES members or MODEL_ZIP_MAX_BYTES uncompressed, a member
    compressed more than MODEL_ZIP_MAX_RATIO times (a zip bomb), and a member
    whose name would land outside the folder it is extracted into.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ClassifierError(f"The zip cannot be read ({exc}); zip the SavedModel folder "
                              "again.") from exc
    if len(members) > settings.MODEL_ZIP_MAX_FILES:
        raise ClassifierError(f"The zip holds {len(members)} files, more than "
                              f"MODEL_ZIP_MAX_FILES ({settings.MODEL_ZIP_MAX_FILES}) allows.")
    total = sum(info.file_size for info in members)
    if total > settings.MODEL_ZIP_MAX_BYTES:
        raise ClassifierError(f"The zip expands to {total // 1024**2} MB, more than "
                              f"MODEL_ZIP_MAX_BYTES ({settings.MODEL_ZIP_MAX_BYTES // 1024**2} "
                              "MB) allows.")
    for info in members:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > settings.MODEL_ZIP_MAX_RATIO:
            raise ClassifierError(f"The zip's {info.filename!r} is compressed {ratio:.0f} times, "
                                  f"more than MODEL_ZIP_MAX_RATIO ({settings.MODEL_ZIP_MAX_RATIO})"
                                  " allows for a model file (a zip bomb?).")
        parts = info.filename.replace("\\", "/").split("/")
        if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise ClassifierError(f"The zipped SavedModel names a path outside itself: "
                                  f"{info.filename!r}.")
    return members


def extract_zip(path: str, folder: str) -> None:
    """Extract the checked zip into ``folder``, writing at most MODEL_ZIP_MAX_BYTES.

    The sizes the central directory declares are checked first (``check_zip``);
    the bytes are then counted as they are written, so a member that expands
    beyond what it declared stops the extraction too. Raises ClassifierError.
    """
    members = check_zip(path)
    root = os.path.realpath(folder)
    written, cap = 0, settings.MODEL_ZIP_MAX_BYTES
    with zipfile.ZipFile(path) as archive:
        for info in members:
            target = os.path.realpath(os.path.join(root, info.filename))
            if target != root and not target.startswith(root + os.sep):
                raise ClassifierError(f"The zipped SavedModel names a path outside itself: "
                                      f"{info.filename!r}.")
            member_written = 0
            try:
                if info.is_dir():
                    os.makedirs(target, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with archive.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        member_written += len(chunk)
                        if written > cap or member_written > info.file_size:
                            raise ClassifierError(
                                f"The zip's {info.filename!r} expands beyond what it declares "
                                f"or beyond MODEL_ZIP_MAX_BYTES ({cap // 1024**2} MB); "
                                "extraction stopped.")
                        dst.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise ClassifierError(f"The zip's {info.filename!r} cannot be extracted "
                                      f"({exc}); zip the SavedModel folder again.") from exc


def open_saved_model(path: str):
    """(loaded, serving signature, input name, input spec, keep) of a zipped SavedModel.

    The serving signature must take one input. ``keep`` holds what must live
    as long as the model (the extracted folder). Raises ClassifierError.
    """
    import tensorflow as tf

    folder = tempfile.TemporaryDirectory()
    try:
        extract_zip(path, folder.name)
        found = [d for d, _, files in os.walk(folder.name) if "saved_model.pb" in files]
        if not found:
            raise ClassifierError("The zip holds no saved_model.pb; zip the SavedModel folder.")
        others = [name for _, _, files in os.walk(folder.name) for name in files
                  if name in OTHER_GRAPH_FILES]
        if len(found) > 1 or others:
            # TensorFlow might load a graph other than the one checked.
            raise ClassifierError(f"The zip holds {len(found)} saved_model.pb and "
                                  f"{', '.join(others) or 'no other graph file'}; it must hold "
                                  "exactly one SavedModel folder with one saved_model.pb.")
        # Read the graph before TensorFlow loads (and so runs) any of it.
        check_saved_model_ops(os.path.join(found[0], "saved_model.pb"))
        try:
            loaded = tf.saved_model.load(found[0])
            signature = loaded.signatures["serving_default"]
        except Exception as exc:  # TensorFlow raises many kinds for a broken SavedModel
            raise ClassifierError(f"The file is not a SavedModel this version can read: "
                                  f"{exc}") from exc
        inputs = signature.structured_input_signature[1]
        if len(inputs) != 1:
            raise ClassifierError(f"The SavedModel's serving signature takes {len(inputs)} "
                                  "inputs; it must take one batch of images.")
    except BaseException:
        folder.cleanup()
        raise
    name, spec = next(iter(inputs.items()))
    return loaded, signature, name, spec, [loaded, folder]


def spec_shape(spec) -> list | None:
    """A TensorSpec's shape as a list (None when even its rank is unknown)."""
    return spec.shape.as_list() if spec.shape.rank is not None else None


def load_stored(model_key: str, load: Callable[[str], T], *, what: str = "model",
                hint: str = "Register it again.") -> T:
    """``load(path)`` on a copy of the stored model file ``model_key``."""
    if not default_storage.exists(model_key):
        raise ClassifierError(f"The {what} file {model_key!r} is missing from storage. {hint}")
    suffix = os.path.splitext(model_key)[1] or ".keras"
    with default_storage.open(model_key, "rb") as src, tempfile.NamedTemporaryFile(
            suffix=suffix) as tmp:
        tmp.write(src.read())
        tmp.flush()
        return load(tmp.name)
