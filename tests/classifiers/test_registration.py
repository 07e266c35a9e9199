"""Registering a classifier version: the model, its label index and thresholds, checked first."""

import io
import json
import zipfile

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.taxonomy import Role
from classifiers.exceptions import ClassifierError
from classifiers.models import Classifier
from classifiers.services.inference import ImageBoxes, predictions, stored_model
from classifiers.services.registration import (
    ClassifierFiles,
    check_classifier,
    do_register_classifier,
    do_update_classifier,
    read_label_index,
)
from core.exceptions import AccessDenied
from tests.classifiers.models import keras_classifier, label_index, zipped_saved_model
from tests.factories import MembershipFactory, OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    path = keras_classifier(tmp_path_factory.mktemp("m") / "net.keras", size=32, classes=3)
    return path.read_bytes()


def files(model_bytes, names=("Zebra", "Lion", "Elephant"), thresholds=None,
          model_name="net.keras"):
    return ClassifierFiles(model=(model_name, model_bytes),
                           label_index=("label_index.json", label_index(*names)),
                           thresholds=("thresholds.csv", thresholds) if thresholds else None)


def stored_files(media):
    return sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file())


def test_registration_stores_the_model_and_records_the_version(model_bytes, media_storage):
    org = OrganisationFactory()
    thresholds = b"class,threshold\nZebra,0.8\nLion,0.35\n"
    classifier = do_register_classifier(check_classifier(
        files(model_bytes, thresholds=thresholds), name="Savanna", version="2026.1",
        organisation=org, region="East Africa", preprocessing="raw"))
    assert (classifier.name, classifier.version, classifier.region) == (
        "Savanna", "2026.1", "East Africa")
    assert classifier.classes == ["Zebra", "Lion", "Elephant"]
    assert classifier.input_size == 32  # read from the model
    assert classifier.class_thresholds == {"Zebra": 0.8, "Lion": 0.35}
    assert classifier.threshold_of("Lion") == 0.35 and classifier.threshold_of("Elephant") == 0.5
    assert stored_files(media_storage) == [classifier.model_key]
    assert classifier.model_key.startswith(f"classifiers/{org.pk}/Savanna/2026.1/")
    # The same name and version again is refused; a new version is another record.
    with pytest.raises(ClassifierError, match="registered already"):
        check_classifier(files(model_bytes), name="Savanna", version="2026.1",
                         organisation=org)
    newer = do_register_classifier(check_classifier(files(model_bytes), name="Savanna",
                                                    version="2026.2", organisation=org))
    assert Classifier.objects.filter(name="Savanna").count() == 2 and newer.pk != classifier.pk


def test_a_label_index_that_does_not_match_the_outputs_is_refused_naming_both(
        model_bytes, media_storage):
    with pytest.raises(ClassifierError) as err:
        check_classifier(files(model_bytes, names=("Zebra", "Lion")), name="Bad")
    assert "names 2 classes" in str(err.value) and "has 3 outputs" in str(err.value)
    assert "label_index.json" in str(err.value) and "net.keras" in str(err.value)
    assert not Classifier.objects.exists() and stored_files(media_storage) == []


@pytest.mark.parametrize("data, message", [
    (b"PK\x03\x04 not really a zip", "net.zip"),
    (b"\x00" * 100, "not a Keras model"),
])
def test_a_file_that_is_not_a_model_is_refused(data, message, media_storage):
    name = "net.zip" if data.startswith(b"PK") else "net.keras"
    with pytest.raises(ClassifierError, match=message):
        check_classifier(files(data, model_name=name), name="Bad")
    assert stored_files(media_storage) == []


def test_model_file_types_and_input_sizes_are_checked(model_bytes):
    with pytest.raises(ClassifierError, match="Keras file"):
        check_classifier(files(model_bytes, model_name="net.onnx"), name="Bad")
    with pytest.raises(ClassifierError, match="takes 32×32 crops, not the 64×64"):
        check_classifier(files(model_bytes), name="Bad", input_size=64)


@pytest.mark.parametrize("data, message", [
    (b'{"0": "Zebra", "2": "Lion"}', "without gaps"),
    (b'{"0": "Zebra", "1": "Zebra"}', "appear twice: Zebra"),
    (b'{"a": "Zebra"}', "output numbers"),
    (b'{"0": ""}', "output 0 needs a class name"),
    (b"[", "not JSON"),
    (b"{}", "at least one class"),
])
def test_bad_label_indexes_name_the_problem(data, message):
    with pytest.raises(ClassifierError, match=message) as err:
        read_label_index("label_index.json", data)
    assert str(err.value).startswith("label_index.json:")


def test_label_index_tolerates_a_bom_and_takes_a_list():
    assert read_label_index("l.json", b'\xef\xbb\xbf{"1": "Lion", "0": "Zebra"}') == [
        "Zebra", "Lion"]
    assert read_label_index("l.json", b'["Zebra", "Lion"]') == ["Zebra", "Lion"]


@pytest.mark.parametrize("data, message", [
    (b"Zebra,0.8\nTiger,0.5\n", "'Tiger' is not a class"),
    (b"Zebra,1.5\n", "from 0 to 1"),
    (b"Zebra,high\n", "from 0 to 1"),
    (b"Zebra\n", "class,threshold"),
    (b'{"Zebra": 0.9, "Puma": 0.1}', "'Puma' is not a class"),
])
def test_bad_thresholds_name_the_class(model_bytes, data, message):
    with pytest.raises(ClassifierError, match=message):
        check_classifier(files(model_bytes, thresholds=data), name="Bad")
    assert not Classifier.objects.exists()


def test_a_zipped_saved_model_registers_and_runs(tmp_path, media_storage):
    archive = zipped_saved_model(tmp_path, size=24, classes=4)
    classifier = do_register_classifier(check_classifier(ClassifierFiles(
        model=("model.zip", archive.read_bytes()),
        label_index=("label_index.json", label_index("a", "b", "c", "d"))), name="SM"))
    assert classifier.input_size == 24
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.new("RGB", (60, 40), (200, 30, 30)).save(buf, "PNG")
    model = stored_model(classifier)
    ((ids, best, scores),) = list(predictions(
        model, [ImageBoxes("k", [7], [(0.0, 0.0, 1.0, 1.0)])], 24, "raw",
        read=lambda key: buf.getvalue()))
    assert list(ids) == [7] and 0 <= best[0] < 4 and 0.25 <= scores[0] <= 1.0


@pytest.mark.hostile
def test_a_zip_that_escapes_its_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../outside.txt", "x")
        zf.writestr("saved_model.pb", "x")
    with pytest.raises(ClassifierError, match="outside"):
        check_classifier(ClassifierFiles(model=("evil.zip", archive.read_bytes()),
                                         label_index=("l.json", label_index("a"))), name="E")
    assert not (tmp_path.parent / "outside.txt").exists()


def test_who_may_register_where(model_bytes):
    org, other = OrganisationFactory(), OrganisationFactory()
    admin = MembershipFactory(organisation=org, role=Role.ADMIN).user
    check_classifier(files(model_bytes), name="Own", organisation=org, acting_user=admin)
    with pytest.raises(AccessDenied):
        check_classifier(files(model_bytes), name="Theirs", organisation=other,
                         acting_user=admin)
    with pytest.raises(AccessDenied, match="site staff"):
        check_classifier(files(model_bytes), name="Shared", acting_user=admin)
    staff = UserFactory(is_superuser=True, is_staff=True)
    check_classifier(files(model_bytes), name="Shared", acting_user=staff)


def test_edits_keep_thresholds_to_known_classes(model_bytes):
    classifier = do_register_classifier(check_classifier(files(model_bytes), name="C"))
    do_update_classifier(classifier, class_thresholds={"Lion": 0.9}, region="Kenya")
    classifier.refresh_from_db()
    assert classifier.class_thresholds == {"Lion": 0.9} and classifier.region == "Kenya"
    with pytest.raises(ClassifierError, match="'Tiger' is not a class"):
        do_update_classifier(classifier, class_thresholds={"Tiger": 0.9})
    with pytest.raises(ClassifierError, match="fixed at registration: classes"):
        do_update_classifier(classifier, classes=["a", "b", "c"])
    classifier.refresh_from_db()
    assert classifier.class_thresholds == {"Lion": 0.9}


def test_register_classifier_command(model_bytes, tmp_path, media_storage):
    model = tmp_path / "net.keras"
    model.write_bytes(model_bytes)
    index = tmp_path / "label_index.json"
    index.write_bytes(label_index("Zebra", "Lion", "Elephant"))
    out = io.StringIO()
    call_command("register_classifier", "--name", "Cmd", "--classifier-version", "3", "--model",
                 str(model), "--label-index", str(index), "--json", stdout=out)
    record = json.loads(out.getvalue())
    assert record["classes"] == 3 and record["input_size"] == 32 and record["version"] == "3"
    index.write_bytes(label_index("Zebra"))
    with pytest.raises(CommandError, match="names 1 classes but the model net.keras has 3"):
        call_command("register_classifier", "--name", "Cmd", "--classifier-version", "4", "--model",
                     str(model), "--label-index", str(index))
    with pytest.raises(CommandError, match="no file"):
        call_command("register_classifier", "--name", "Cmd", "--model", "/nonexistent.keras",
                     "--label-index", str(index))
    assert Classifier.objects.count() == 1


def test_admin_registers_by_upload_and_refuses_a_mismatch(client, model_bytes, media_storage):
    from django.core.files.uploadedfile import SimpleUploadedFile

    org = OrganisationFactory()
    admin = MembershipFactory(organisation=org, role=Role.ADMIN, user__is_staff=True).user
    client.force_login(admin)

    def post(names, version):
        return client.post("/admin/classifiers/classifier/add/", {
            "organisation": org.pk, "name": "Uploaded", "version": version,
            "preprocessing": "raw", "threshold": "0.5", "region": "", "description": "",
            "model_file": SimpleUploadedFile("net.keras", model_bytes),
            "label_index": SimpleUploadedFile("label_index.json", label_index(*names)),
            "thresholds_file": SimpleUploadedFile("t.json", b'{"b": 0.7}'),
        })

    refused = post(["a", "b"], "1")
    assert refused.status_code == 200
    assert "names 2 classes but the model net.keras has 3 outputs" in refused.content.decode()
    assert not Classifier.objects.exists() and stored_files(media_storage) == []
    done = post(["a", "b", "c"], "1")
    assert done.status_code == 302, done.content.decode()[:2000]
    classifier = Classifier.objects.get()
    assert classifier.organisation == org and classifier.class_thresholds == {"b": 0.7}
    page = client.get(f"/admin/classifiers/classifier/{classifier.pk}/change/").content.decode()
    assert "class_thresholds" in page and 'name="classes"' not in page
    # Another organisation's id in the organisation field is refused.
    other = OrganisationFactory()
    response = client.post("/admin/classifiers/classifier/add/", {
        "organisation": other.pk, "name": "X", "version": "1", "preprocessing": "raw",
        "threshold": "0.5", "model_file": SimpleUploadedFile("net.keras", model_bytes),
        "label_index": SimpleUploadedFile("l.json", label_index("a", "b", "c"))})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert Classifier.objects.count() == 1


def test_predictions_of_registered_model_match_keras(model_bytes, media_storage):
    import keras

    classifier = do_register_classifier(check_classifier(files(model_bytes), name="K"))
    model = stored_model(classifier)
    from PIL import Image as PILImage

    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, "PNG")
    boxes = [(0.0, 0.0, 1.0, 1.0), (0.25, 0.25, 0.75, 0.75)]
    ((ids, best, scores),) = list(predictions(
        model, [ImageBoxes("k", [1, 2], boxes)], 32, "raw", read=lambda key: buf.getvalue()))
    from classifiers.services.inference import crop_dataset

    ((_, crops),) = list(crop_dataset([ImageBoxes("k", [1, 2], boxes)], 32, "raw",
                                      read=lambda key: buf.getvalue()))
    path = media_storage / classifier.model_key
    reference = keras.models.load_model(path, compile=False).predict(crops.numpy(), verbose=0)
    assert list(best) == list(reference.argmax(axis=1))
    assert np.allclose(scores, reference.max(axis=1), atol=1e-5)
