"""PyTorch checkpoints read without PyTorch: tensors come back as numpy, anything else refused.

The checkpoints are written here in torch.save's zip layout (``archive/data.pkl``
plus ``archive/data/<key>`` storages) by a Pickler that stands in for torch's own
names, since torch is not installed.
"""

import collections
import io
import os
import pickle
import sys
import types
import zipfile

import numpy as np
import pytest

from classifiers.exceptions import ClassifierError
from classifiers.services.torch_checkpoint import read_checkpoint, read_state_dict


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, np.ascontiguousarray(array).ravel()


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return rebuild, (self.storage, self.offset, self.size, self.stride, False,
                         collections.OrderedDict())


@pytest.fixture
def fake_torch(monkeypatch):
    """torch's names (so pickle can write them as globals), as torch.save writes them."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called when writing")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", \
        "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    storages = {}
    for name in ("FloatStorage", "LongStorage"):
        storages[name] = type(name, (), {"__module__": "torch", "__qualname__": name})
        setattr(torch, name, storages[name])
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return storages


def write_checkpoint(path, obj, storages, types_of):
    """torch.save's zip layout for ``obj`` whose tensors are _Tensor views of _Storage."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, value):
            if isinstance(value, _Storage):
                return ("storage", types_of[value.key], value.key, "cpu", value.array.size)
            return None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue())
        for storage in storages:
            archive.writestr(f"archive/data/{storage.key}", storage.array.tobytes())
        archive.writestr("archive/version", "3\n")


def test_state_dict_tensors_come_back_as_numpy(tmp_path, fake_torch):
    weight = np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)
    flat = _Storage("0", np.concatenate([[99.0, 98.0], weight.ravel()]).astype(np.float32))
    steps = _Storage("1", np.array([7], np.int64))
    state = collections.OrderedDict([
        ("conv.weight", _Tensor(flat, 2, (2, 3, 2, 2), (12, 4, 2, 1))),
        # A transposed view of the same storage: strides, not a copy.
        ("conv.weight_t", _Tensor(flat, 2, (12, 2), (1, 12))),
        ("bn.num_batches_tracked", _Tensor(steps, 0, (), ())),
    ])
    path = tmp_path / "model.pth"
    write_checkpoint(path, {"start_epoch": 3, "model": state}, [flat, steps],
                     {"0": fake_torch["FloatStorage"], "1": fake_torch["LongStorage"]})

    arrays = read_state_dict(str(path))

    assert list(arrays) == ["conv.weight", "conv.weight_t", "bn.num_batches_tracked"]
    np.testing.assert_array_equal(arrays["conv.weight"], weight)
    assert arrays["conv.weight"].dtype == np.float32
    np.testing.assert_array_equal(arrays["conv.weight_t"], weight.reshape(2, 12).T)
    assert arrays["bn.num_batches_tracked"].dtype == np.int64
    assert int(arrays["bn.num_batches_tracked"]) == 7
    assert read_checkpoint(str(path))["start_epoch"] == 3


def test_a_view_beyond_its_storage_is_refused(tmp_path, fake_torch):
    flat = _Storage("0", np.zeros(4, np.float32))
    path = tmp_path / "model.pth"
    write_checkpoint(path, {"w": _Tensor(flat, 1, (4,), (1,))}, [flat],
                     {"0": fake_torch["FloatStorage"]})
    with pytest.raises(ClassifierError, match="reaching element 4 of a storage of 4"):
        read_state_dict(str(path))


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


@pytest.mark.hostile
def test_a_pickle_calling_anything_else_is_refused_before_it_runs(tmp_path):
    target = tmp_path / "written-by-the-pickle"
    path = tmp_path / "model.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"model": _Evil(target)}, protocol=2))

    with pytest.raises(ClassifierError, match=r"asks for (posix|os|nt)\.system.*refused"):
        read_state_dict(str(path))
    assert not target.exists()


@pytest.mark.hostile
def test_a_file_that_is_no_zip_checkpoint_is_refused(tmp_path):
    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ClassifierError, match="zip cannot be read"):
        read_state_dict(str(legacy))
    empty = tmp_path / "empty.pth"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("archive/version", "3\n")
    with pytest.raises(ClassifierError, match="not a PyTorch zip checkpoint"):
        read_state_dict(str(empty))
