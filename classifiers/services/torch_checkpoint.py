"""Reading a PyTorch ``.pth`` checkpoint's tensors as numpy arrays, without PyTorch.

A checkpoint saved by ``torch.save`` is a zip: ``<root>/data.pkl`` is a pickle
of the saved object whose tensors are *persistent ids* pointing at the raw
bytes of storage files ``<root>/data/<key>``. A pickle is a program, so it is
read by an Unpickler that resolves only the few names a state dict needs
(``torch._utils._rebuild_tensor_v2``, ``collections.OrderedDict`` and the
``torch.*Storage`` types, mapped to numpy dtypes); any other name (``os.system``,
``builtins.eval``, ``torch.nn.Module`` …) is refused before it is called.
The zip itself is held to the MODEL_ZIP_* limits (services.modelfiles.check_zip).

Hand-written rather than a library: the one well-kept reader is PyTorch
itself (about 800 MB), which the project does not install; this is the
format's documented subset that state dicts use.
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from collections.abc import Mapping

import numpy as np

from ..exceptions import ClassifierError
from .modelfiles import check_zip

# torch.<Name>Storage → numpy dtype (little-endian, as torch writes unless the zip's
# ``byteorder`` member says otherwise).
STORAGE_DTYPES = {
    "DoubleStorage": "f8", "FloatStorage": "f4", "HalfStorage": "f2",
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}


class _StorageType:
    """What ``torch.FloatStorage`` & co. stand for inside the pickle: a dtype."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(STORAGE_DTYPES[name])


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    """A tensor view of a flat storage, copied into its own C-ordered numpy array."""
    size, stride = tuple(int(n) for n in size), tuple(int(n) for n in stride)
    if not isinstance(storage, np.ndarray) or len(size) != len(stride) or any(
            n < 0 for n in size + stride) or storage_offset < 0:
        raise ClassifierError("The checkpoint holds a tensor that is not a plain view of its "
                              "storage.")
    if any(n == 0 for n in size):
        return np.zeros(size, storage.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= storage.size:
        raise ClassifierError(f"The checkpoint holds a tensor reaching element {last} of a "
                              f"storage of {storage.size}.")
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=size,
        strides=tuple(s * storage.itemsize for s in stride), writeable=False)
    return np.array(view, copy=True)


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the names of a state dict; reads storages from the zip."""

    def __init__(self, file, archive: zipfile.ZipFile, root: str, byteorder: str):
        super().__init__(file)
        self._archive, self._root, self._byteorder = archive, root, byteorder
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise ClassifierError(f"The checkpoint's pickle asks for {module}.{name}, which a "
                              "weights file does not need; it is refused (a pickle is a "
                              "program).")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)):
            raise ClassifierError(f"The checkpoint's pickle refers to {pid!r}, which is not a "
                                  "tensor storage.")
        _, storage_type, key, _location, numel = pid
        if key not in self._storages:
            try:
                data = self._archive.read(f"{self._root}/data/{key}")
            except KeyError as exc:
                raise ClassifierError(f"The checkpoint lacks the storage data/{key}.") from exc
            dtype = storage_type.dtype.newbyteorder(self._byteorder)
            if len(data) != int(numel) * dtype.itemsize:
                raise ClassifierError(f"The checkpoint's storage data/{key} holds {len(data)} "
                                      f"bytes, not the {numel} × {dtype.itemsize} it declares.")
            self._storages[key] = np.frombuffer(data, dtype).astype(dtype.newbyteorder("="))
        return self._storages[key]


def read_checkpoint(path: str):
    """The object a ``.pth`` zip checkpoint holds, its tensors as numpy arrays.

    Raises ClassifierError when the file is not such a zip, breaks the
    MODEL_ZIP_* limits, or its pickle names anything beyond tensors and dicts.
    """
    check_zip(path)
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ClassifierError(f"{path}: not a PyTorch zip checkpoint (it holds "
                                  f"{len(pickles)} data.pkl, not one).")
        root = pickles[0][:-len("/data.pkl")]
        byteorder = "<"
        if f"{root}/byteorder" in archive.namelist():
            byteorder = ">" if archive.read(f"{root}/byteorder").strip() == b"big" else "<"
        with archive.open(pickles[0]) as fh:
            try:
                return _RestrictedUnpickler(fh, archive, root, byteorder).load()
            except ClassifierError:
                raise
            except (pickle.UnpicklingError, EOFError, ValueError, TypeError,
                    AttributeError, IndexError) as exc:
                raise ClassifierError(f"{path}: the checkpoint's pickle cannot be read "
                                      f"({exc}).") from exc


def read_state_dict(path: str, key: str = "model") -> dict[str, np.ndarray]:
    """{parameter name: array} of a checkpoint: its ``key`` entry, or itself when it is one."""
    loaded = read_checkpoint(path)
    if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
        loaded = loaded[key]
    if not isinstance(loaded, Mapping):
        raise ClassifierError(f"{path}: the checkpoint holds no state dict.")
    arrays = {name: value for name, value in loaded.items() if isinstance(value, np.ndarray)}
    if not arrays:
        raise ClassifierError(f"{path}: the checkpoint's state dict holds no tensors.")
    return arrays
