"""Untrusted model files: the graph is read before any load, checks run in a child, zips are capped.

Every model here is built by the tests (tests.classifiers.hostile_models); the
hostile ones write, read, call Python or use the saver's ops, and the check must
refuse each naming the op, before TensorFlow loads it, at upload and when a
worker loads a stored model.
"""

import os
import struct
import zipfile
import zlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from classifiers.exceptions import ClassifierError
from classifiers.models import Classifier
from classifiers.services.graphcheck import check_saved_model_ops
from classifiers.services.inference import stored_model
from classifiers.services.modelfiles import extract_zip
from classifiers.services.registration import (
    ClassifierFiles,
    check_classifier,
    do_register_classifier,
)
from tests.classifiers.hostile_models import CLASSES, hostile_saved_model, tf1_saved_model
from tests.classifiers.models import label_index

pytestmark = pytest.mark.django_db

NAMES = [f"class {i}" for i in range(CLASSES)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``built(variant, tf1=False)``: the zipped model, built once per module."""
    folder = tmp_path_factory.mktemp("models")
    target = str(folder / "written-by-the-model")
    cache = {}

    def build(variant, tf1=False):
        if (variant, tf1) not in cache:
            make = tf1_saved_model if tf1 else hostile_saved_model
            cache[variant, tf1] = make(folder, variant, target)
        return cache[variant, tf1]

    build.target = target
    return build


def pb_of(archive, folder):
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    (pb,) = folder.rglob("saved_model.pb")
    return str(pb)


def ops_of(pb):
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString(open(pb, "rb").read())
    graph = saved.meta_graphs[0].graph_def
    return {n.op for n in graph.node} | {n.op for f in graph.library.function
                                         for n in f.node_def}


def classifier_files(archive, name="model.zip"):
    return ClassifierFiles(model=(name, archive.read_bytes()),
                           label_index=("label_index.json", label_index(*NAMES)))


def test_a_tf1_graph_with_v1_control_flow_and_tensor_arrays_passes_and_registers(
        built, tmp_path, media_storage):
    """MegaDetector v4.1's kinds of op: Enter/Exit/Switch/Merge loops over TensorArrayV3."""
    archive = built("pure", tf1=True)
    pb = pb_of(archive, tmp_path)
    assert {"Enter", "Exit", "Switch", "Merge", "LoopCond", "TensorArrayV3",
            "TensorArrayWriteV3", "SaveV2", "RestoreV2"} <= ops_of(pb)
    check_saved_model_ops(pb)
    classifier = do_register_classifier(check_classifier(classifier_files(archive), name="TF1"))
    assert classifier.input_size == 8 and classifier.classes == NAMES


def test_a_tf2_model_with_while_tensor_array_and_cond_passes(built, tmp_path):
    pb = pb_of(built("control_flow"), tmp_path)
    assert {"StatelessWhile", "StatelessIf", "TensorListReserve", "SaveV2"} <= ops_of(pb)
    check_saved_model_ops(pb)


@pytest.mark.hostile
@pytest.mark.parametrize("variant, op, where", [
    ("write_file", "WriteFile", "which the serving signature runs"),
    ("read_file", "ReadFile", "which the serving signature runs"),
    ("py_function", "EagerPyFunc", "which the serving signature runs"),
    ("print_to_file", "PrintV2", "which the serving signature runs"),
    ("save_v2", "SaveV2", "belongs to TensorFlow's saver"),
    ("nested_write", "WriteFile", "function while_cond_true"),
    ("other_signature", "WriteFile", "function __inference_other"),
])
def test_a_saved_model_that_does_more_than_compute_is_refused_naming_the_op(
        built, tmp_path, variant, op, where):
    with pytest.raises(ClassifierError, match=f"operation {op} ") as err:
        check_saved_model_ops(pb_of(built(variant), tmp_path))
    assert where in str(err.value)


@pytest.mark.hostile
@pytest.mark.parametrize("variant, op", [("init_write", "WriteFile"), ("init_save", "SaveV2")])
def test_a_tf1_init_op_that_writes_or_saves_is_refused(built, tmp_path, variant, op):
    with pytest.raises(ClassifierError, match=f"operation {op} "):
        check_saved_model_ops(pb_of(built(variant, tf1=True), tmp_path))


@pytest.mark.hostile
def test_an_upload_that_writes_a_file_is_refused_before_it_runs(built, media_storage):
    with pytest.raises(ClassifierError, match="model.zip: .*operation WriteFile "):
        check_classifier(classifier_files(built("write_file")), name="Evil")
    assert not os.path.exists(built.target)
    assert not Classifier.objects.exists() and not any(media_storage.rglob("*.zip"))


@pytest.mark.hostile
def test_a_stored_model_swapped_for_a_hostile_one_is_refused_when_a_worker_loads_it(
        built, media_storage):
    classifier = do_register_classifier(check_classifier(classifier_files(built("pure")),
                                                         name="Swapped"))
    default_storage.delete(classifier.model_key)
    default_storage.save(classifier.model_key,
                         ContentFile(built("read_file").read_bytes()))
    with pytest.raises(ClassifierError, match="operation ReadFile "):
        stored_model(classifier)


@pytest.mark.hostile
def test_a_model_that_never_finishes_is_stopped_at_the_deadline(built, settings, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    settings.MODEL_CHECK_SECONDS = 20
    settings.MODEL_CHECK_SCRATCH_DIR = str(scratch)
    with pytest.raises(ClassifierError, match=r"MODEL_CHECK_SECONDS \(20 s\)"):
        check_classifier(classifier_files(built("spin")), name="Spin")
    assert list(scratch.iterdir()) == []  # the child's scratch folder is gone


@pytest.mark.hostile
def test_a_model_that_wants_too_much_memory_is_refused_naming_the_setting(built, settings):
    settings.MODEL_CHECK_MEMORY_MB = 3000  # TensorFlow itself takes about 1.8 GB
    with pytest.raises(ClassifierError, match=r"MODEL_CHECK_MEMORY_MB \(3000 MB\)"):
        check_classifier(classifier_files(built("hog")), name="Hog")


# --- zips ----------------------------------------------------------------------------------
GIB = 1024**3


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory):
    """About 1 MB of zip whose one member expands to 1 GiB of zeros.

    Deflated 16 MiB at a time with a full flush, every block compresses to the same bytes:
    the stream is one block's bytes 64 times, written into a zip by hand (seconds, not the
    half minute deflating 1 GiB takes).
    """
    chunk = bytes(16 * 1024**2)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    stream = block * (GIB // len(chunk)) + deflate.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(GIB // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    name = b"saved/variables/variables.data-00000-of-00001"
    sizes = struct.pack("<III", crc, len(stream), GIB)
    local = struct.pack("<IHHHHH", 0x04034B50, 20, 0, 8, 0, 0) + sizes + struct.pack(
        "<HH", len(name), 0) + name
    central = struct.pack("<IHHHHHH", 0x02014B50, 20, 20, 0, 8, 0, 0) + sizes + struct.pack(
        "<HHHHHII", len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                      len(local) + len(stream), 0)
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    path.write_bytes(local + stream + central + end)
    with zipfile.ZipFile(path) as zf:  # a zip as any tool reads it
        assert zf.infolist()[0].file_size == GIB
    return path


@pytest.mark.hostile
def test_a_zip_bomb_is_refused_from_its_central_directory_before_anything_is_written(
        zip_bomb, tmp_path, settings):
    assert zip_bomb.stat().st_size < 1.5 * 1024**2
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ClassifierError, match="MODEL_ZIP_MAX_RATIO"):
        extract_zip(str(zip_bomb), str(out))
    assert list(out.iterdir()) == []
    settings.MODEL_ZIP_MAX_RATIO = 10_000  # then the total is what refuses it
    settings.MODEL_ZIP_MAX_BYTES = 100 * 1024**2
    with pytest.raises(ClassifierError, match=r"MODEL_ZIP_MAX_BYTES \(100 MB\)"):
        extract_zip(str(zip_bomb), str(out))
    assert list(out.iterdir()) == []


@pytest.mark.hostile
def test_an_uploaded_zip_bomb_is_refused_naming_the_setting(zip_bomb, media_storage):
    with pytest.raises(ClassifierError, match="bomb.zip: .*MODEL_ZIP_MAX_RATIO"):
        check_classifier(classifier_files(zip_bomb, "bomb.zip"), name="Bomb")


def _understated(path, member_bytes: int, declared: int):
    """A zip whose headers declare ``declared`` bytes for a member of ``member_bytes`` zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("saved/saved_model.pb", bytes(member_bytes))
    data = bytearray(path.read_bytes())
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, declared)
    struct.pack_into("<I", data, central + 24, declared)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.hostile
def test_a_member_that_expands_beyond_what_it_declares_stops_at_the_declared_size(tmp_path):
    archive = _understated(tmp_path / "liar.zip", 50 * 1024**2, declared=1024)
    out = tmp_path / "out"
    with pytest.raises(ClassifierError, match="cannot be extracted"):
        extract_zip(str(archive), str(out))
    written = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    assert written <= 1024


@pytest.mark.hostile
@pytest.mark.parametrize("name", ["/etc/cron.d/x", "saved/../../x", "..\\..\\x", "C:/x"])
def test_member_names_outside_the_folder_are_refused_before_writing(tmp_path, name):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("saved/saved_model.pb", b"x")
        zf.writestr(name, b"x")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ClassifierError, match="outside itself"):
        extract_zip(str(archive), str(out))
    assert list(out.iterdir()) == []


@pytest.mark.hostile
@pytest.mark.parametrize("extra", ["saved/saved_model.pbtxt", "saved/saved_model.cpb",
                                   "second/saved_model.pb"])
def test_a_zip_with_a_second_graph_file_beside_the_checked_one_is_refused(
        built, tmp_path, extra):
    """TensorFlow could load a hostile .pbtxt/.cpb or another folder instead of what was read."""
    from classifiers.services.modelfiles import open_saved_model

    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(built("pure")) as src, zipfile.ZipFile(archive, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr(extra, b"")
    with pytest.raises(ClassifierError, match="exactly one SavedModel folder"):
        open_saved_model(str(archive))


@pytest.mark.hostile
def test_a_keras_file_with_a_python_lambda_is_refused(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Lambda(lambda x: x * 2),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ClassifierError, match="lambda.keras: .*(unsafe|safe_mode)"):
        check_classifier(ClassifierFiles(model=("lambda.keras", path.read_bytes()),
                                         label_index=("l.json", label_index(*NAMES))),
                         name="Lambda")
