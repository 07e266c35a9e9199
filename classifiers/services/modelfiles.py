"""Model files users upload (Keras files, zipped SavedModels): opened safely, from disk or storage.

Shared by classifiers (services.inference) and detectors (services.detector_inference):
both accept the same kinds of file and refuse them in the same words. A zipped
SavedModel is extracted into a temporary folder that must live as long as the
model (returned in ``keep``); a zip naming a path outside that folder is refused
before anything is written.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable
from typing import TypeVar

from django.core.files.storage import default_storage

from ..exceptions import ClassifierError

MODEL_SUFFIXES = (".keras", ".h5", ".zip")
MAX_MODEL_BYTES = 2 * 1024**3

T = TypeVar("T")


def model_suffix(filename: str) -> str:
    """The file's suffix when it is one a model file may have; ClassifierError otherwise."""
    suffix = os.path.splitext(filename.lower())[1]
    if suffix not in MODEL_SUFFIXES:
        raise ClassifierError(f"{filename}: a model file is a Keras file (.keras, .h5) or a "
                              "zipped TensorFlow SavedModel folder (.zip).")
    return suffix


def is_zipped_saved_model(path: str) -> bool:
    # A .keras file is a zip too, of another kind.
    return zipfile.is_zipfile(path) and not path.endswith(".keras")


def open_keras(path: str):
    """The Keras model in the file at ``path`` (not compiled); ClassifierError if it is none."""
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many kinds for a file that is not a model
        raise ClassifierError(f"The file is not a Keras model this version can read: {exc}") \
            from exc


def _extract(path: str, folder: str) -> None:
    with zipfile.ZipFile(path) as archive:
        root = os.path.realpath(folder)
        for name in archive.namelist():
            target = os.path.realpath(os.path.join(root, name))
            if not target.startswith(root + os.sep) and target != root:
                raise ClassifierError(f"The zipped SavedModel names a path outside "
                                      f"itself: {name!r}.")
        archive.extractall(root)


def open_saved_model(path: str):
    """(loaded, serving signature, input name, input spec, keep) of a zipped SavedModel.

    The serving signature must take one input. ``keep`` holds what must live
    as long as the model (the extracted folder). Raises ClassifierError.
    """
    import tensorflow as tf

    folder = tempfile.TemporaryDirectory()
    try:
        _extract(path, folder.name)
        found = [d for d, _, files in os.walk(folder.name) if "saved_model.pb" in files]
        if not found:
            raise ClassifierError("The zip holds no saved_model.pb; zip the SavedModel folder.")
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


def load_upload(filename: str, data: bytes, load: Callable[[str], T]) -> T:
    """``load(path)`` on the uploaded bytes, written to a temporary file of the same suffix.

    Errors name the file: ``"net.keras: The file is not a Keras model …"``.
    """
    if len(data) > MAX_MODEL_BYTES:
        raise ClassifierError(f"{filename}: larger than {MAX_MODEL_BYTES // 1024**2} MB.")
    with tempfile.NamedTemporaryFile(suffix=model_suffix(filename)) as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            return load(tmp.name)
        except ClassifierError as exc:
            raise ClassifierError(f"{filename}: {exc}") from exc


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
