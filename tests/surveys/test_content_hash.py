"""The metadata-blind content hash, duplicates across metadata-only copies, and the rehash of
surveys imported before it."""

import io
import random
from datetime import datetime
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image as PILImage

from surveys.exceptions import UnreadableImage
from surveys.models import Image
from surveys.selectors import duplicate_images, rehash_progress
from surveys.services import rehash
from surveys.services.images import content_hash, legacy_content_hash
from surveys.services.importing import do_run_import, do_start_import
from surveys.tasks import rehash_images_task
from tests.conftest import CAMERA_TRAPS
from tests.factories import OrganisationFactory, SurveyFactory, member
from training.synthetic import jpeg_bytes

CAMTRAPR = CAMERA_TRAPS / "camtrapR" / "inst" / "pictures"


def photo(colour=(90, 120, 60), taken=datetime(2023, 1, 1, 10, 0, 0)) -> bytes:
    img = PILImage.new("RGB", (320, 240), colour)
    img.paste((10, 200, 30), (40, 40, 120, 100))
    return jpeg_bytes(img, taken)


def with_segment(data: bytes, marker: int, payload: bytes) -> bytes:
    """``data`` with one more segment (``marker``) right after the start-of-image marker."""
    segment = bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload
    return data[:2] + segment + data[2:]


IPTC = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x0c\x1c\x02\x19\x00\x07Species"
ICC = b"ICC_PROFILE\x00\x01\x01" + bytes(64)


def test_copies_differing_only_in_app13_com_app2_have_one_hash():
    base = photo()
    copies = [
        base,
        with_segment(base, 0xED, IPTC),  # APP13: IPTC keywords (camtrapR's tagged copies)
        with_segment(base, 0xFE, b"tagged in digiKam"),  # COM
        with_segment(base, 0xE2, ICC),  # APP2: ICC profile
        with_segment(with_segment(base, 0xED, IPTC), 0xFE, b"x" * 3000),
        photo(taken=datetime(2024, 5, 5, 5, 5, 5)),  # other EXIF (APP1)
    ]
    assert len(set(copies)) == len(copies)
    assert len({content_hash(c) for c in copies}) == 1
    # The version-1 hash kept APP13, COM and APP2: these copies were "new" images.
    assert len({legacy_content_hash(c) for c in copies}) == 5
    assert content_hash(photo(colour=(120, 90, 60))) != content_hash(base)  # pixels count


@pytest.mark.hostile
@pytest.mark.parametrize("damage", [
    lambda d: d[:2] + b"\xff\xed\x00\x00" + d[2:],  # length 0: would not move on
    lambda d: d[:2] + b"\xff\xed\x00\x01" + d[2:],  # length 1: shorter than itself
    lambda d: d[:2] + b"\xff\xfe\xff\xff" + b"x" * 10,  # comment running past the end
    lambda d: d[:2] + b"\xff\xe1",  # cut off inside a segment header
    lambda d: d[:2] + b"\xff" * 50_000,  # only fill bytes, no segment
    lambda d: d[:2] + b"garbage" + d[2:],  # no marker where one must be
])
def test_malformed_segment_lengths_are_refused_not_looped(damage):
    with pytest.raises(UnreadableImage, match="JPEG"):
        content_hash(damage(photo()))


@pytest.mark.hostile
def test_any_cut_or_flipped_byte_ends_in_a_hash_or_unreadable():
    data = photo()
    rng = random.Random(7)
    for _ in range(400):
        broken = bytearray(data[:rng.randrange(0, len(data))])
        for _ in range(rng.randrange(0, 4)):
            if broken:
                broken[rng.randrange(len(broken))] = rng.randrange(256)
        try:
            assert len(content_hash(bytes(broken))) == 64
        except UnreadableImage:
            pass


def import_folder(survey, folder):
    run = do_start_import(survey, str(folder))
    assert do_run_import(run) is True
    run.refresh_from_db()
    return run


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.mark.django_db
def test_tagged_copy_in_another_folder_is_a_duplicate(tmp_path):
    write(tmp_path / "StationA" / "a.jpg", photo())
    write(tmp_path / "StationA" / "c.jpg", photo(colour=(10, 10, 200)))
    write(tmp_path / "StationB" / "a_tagged.jpg", with_segment(photo(), 0xED, IPTC))
    survey = SurveyFactory()
    run = import_folder(survey, tmp_path)
    assert run.imported == 2
    [dup] = run.issues.all()
    assert dup.path == "StationB/a_tagged.jpg" and "same image data as" in dup.reason
    assert "StationA/a.jpg" in dup.reason


def legacy_survey(tmp_path):
    """A survey as imported before the metadata-blind hash: A/a.jpg, A/c.jpg, and B/b.jpg (a
    tagged copy of a.jpg, stored as a new image then), hashes of version 1."""
    first, second = tmp_path / "first", tmp_path / "second"
    write(first / "A" / "a.jpg", photo())
    write(first / "A" / "c.jpg", photo(colour=(10, 10, 200)))
    write(second / "B" / "b.jpg", with_segment(photo(), 0xED, IPTC))
    survey = SurveyFactory()
    import_folder(survey, first)
    _as_version_1(survey)
    run = import_folder(survey, second)  # v1 hashes differ: the old importer took it too
    assert run.imported == 1
    _as_version_1(survey)
    return survey, first


def _as_version_1(survey):
    for image in Image.objects.filter(camera__site__survey=survey):
        with default_storage.open(image.key, "rb") as handle:
            image.content_hash = legacy_content_hash(handle.read())
        image.hash_version = 1
        image.save(update_fields=["content_hash", "hash_version"])


@pytest.mark.django_db
def test_repeat_import_into_a_survey_not_yet_rehashed_adds_nothing(tmp_path):
    survey, first = legacy_survey(tmp_path)
    write(first / "A2" / "a_copy.jpg", (first / "A" / "a.jpg").read_bytes())
    run = import_folder(survey, first)
    assert (run.total, run.imported) == (3, 0)
    [dup] = run.issues.all()  # a.jpg and c.jpg are known by their keys: not even read
    assert dup.path == "A2/a_copy.jpg" and "A/a.jpg" in dup.reason
    assert Image.objects.filter(camera__site__survey=survey).count() == 3
    assert set(Image.objects.values_list("hash_version", flat=True)) == {1}


@pytest.mark.django_db
def test_rehash_resumes_reports_duplicates_and_deletes_nothing(tmp_path):
    survey, _ = legacy_survey(tmp_path)
    assert rehash_progress(survey) == (3, 3)
    assert duplicate_images(survey) == []
    cut = rehash.do_rehash_slice(survey, batch_size=1, max_batches=1)  # "killed" after one
    assert (cut.rehashed, cut.finished) == (1, False)
    assert rehash_progress(survey) == (3, 2)
    rest = rehash.do_rehash_slice(survey)  # a new run: only what is left
    assert (rest.rehashed, rest.finished) == (2, True)
    assert rehash_progress(survey) == (3, 0)
    keys = [f"surveys/{survey.pk}/originals/A/a.jpg", f"surveys/{survey.pk}/originals/B/b.jpg"]
    assert duplicate_images(survey) == [keys]
    assert Image.objects.filter(camera__site__survey=survey).count() == 3
    again = rehash.do_rehash_slice(survey)
    assert (again.rehashed, again.finished) == (0, True)


@pytest.mark.django_db
def test_rehash_of_a_missing_original_is_listed_and_the_run_ends(tmp_path):
    survey, _ = legacy_survey(tmp_path)
    lost = Image.objects.get(camera__site__survey=survey, filename="c.jpg")
    default_storage.delete(lost.key)
    done = rehash.do_rehash_slice(survey, batch_size=1)
    assert done.finished and done.rehashed == 2
    assert [key for key, _ in done.unreadable] == [lost.key]
    lost.refresh_from_db()
    assert lost.hash_version == 1


@pytest.mark.django_db
def test_rehash_command_and_task(tmp_path):
    survey, _ = legacy_survey(tmp_path)
    out = io.StringIO()
    call_command("rehash_images", "--survey", survey.name, "--org",
                 str(survey.organisation_id), stdout=out)
    text = out.getvalue()
    assert "0 of 3 image(s) have the current hash, 3 to rehash" in text
    assert "rehashed 3 of 3" in text
    assert "1 picture(s) stored more than once (1 extra image(s)); nothing was deleted" in text
    assert f"surveys/{survey.pk}/originals/A/a.jpg  =  surveys/{survey.pk}/originals/B/b.jpg" \
        in text
    _as_version_1(survey)
    assert rehash_images_task(survey.pk) == {"rehashed": 3, "finished": True, "unreadable": 0}
    assert rehash_images_task(survey.pk) == {"rehashed": 0, "finished": True, "unreadable": 0}


@pytest.mark.django_db
def test_admin_lists_duplicates_and_sends_the_rehash(tmp_path, client,
                                                    django_capture_on_commit_callbacks):
    survey, _ = legacy_survey(tmp_path)
    client.force_login(member(survey.organisation, "admin"))
    page = client.get(f"/admin/surveys/survey/{survey.pk}/change/").content.decode()
    assert "0 of 3 image(s) have the metadata-blind hash; 3 to rehash" in page
    with django_capture_on_commit_callbacks() as sent:
        response = client.post("/admin/surveys/survey/", {
            "action": "rehash", "_selected_action": [survey.pk]})
    assert response.status_code == 302 and len(sent) == 1
    rehash.do_rehash_slice(survey)
    page = client.get(f"/admin/surveys/survey/{survey.pk}/change/").content.decode()
    assert "1 picture(s) stored more than once (nothing deleted)" in page
    assert f"surveys/{survey.pk}/originals/B/b.jpg" in page
    outsider = OrganisationFactory()
    client.force_login(member(outsider, "admin"))
    assert client.get(f"/admin/surveys/survey/{survey.pk}/change/").status_code in (302, 404)


@pytest.mark.django_db
@pytest.mark.skipif(not CAMTRAPR.exists(), reason="../shared camera-trap photos absent")
def test_camtrapr_tagged_and_folder_sorted_copies_are_one_picture_each():
    """camtrapR ships each photo in species folders and again with XMP/IPTC tags: its pictures
    folder holds 70 distinct pictures (143 files under StationA-C folders)."""
    survey = SurveyFactory(site_regex=r"Station[ABC]")
    run = import_folder(survey, CAMTRAPR)
    assert run.total == 169
    assert Image.objects.filter(camera__site__survey=survey).count() == run.imported == 70
    reasons = list(run.issues.values_list("reason", flat=True))
    assert sum("duplicate skipped" in r for r in reasons) == 143 - 70
    assert sum("does not match the site regex" in r for r in reasons) == 26  # indiv_tag
    # The two species sets alone: 68 + 68 files, 69 pictures (one photo is in one set only).
    both = SurveyFactory(site_regex=r"Station[ABC]")
    first = import_folder(both, CAMTRAPR / "sample_images_species_dir")
    second = import_folder(both, CAMTRAPR / "sample_images_species_tag")
    assert (first.imported, second.imported) == (68, 1)
    assert Image.objects.filter(camera__site__survey=both).count() == 69
