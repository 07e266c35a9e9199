"""Geofencing: species outside their range roll up to their parent, or to Animal."""

import pytest

from classifiers.exceptions import ClassifierError
from classifiers.models import Classifier, Detection
from classifiers.services.classification import do_classify_survey
from classifiers.services.geofence import check_ranges, read_range_table, roll_up
from classifiers.services.registration import do_update_classifier
from tests.classifiers.test_inference import colour_survey  # noqa: F401 (fixture)

CLASSES = ["Lion", "Puma", "Felidae", "Zebra"]
TABLE = (b"class,countries,parent\n"
         b"Lion,KE;TZ ZA,Felidae\n"
         b"Puma,US-CA CL,Felidae\n"
         b"Felidae,KE US,\n")


def fenced(**extra) -> Classifier:
    return Classifier(name="c", classes=CLASSES, geofence=True,
                      species_ranges=read_range_table("ranges.csv", TABLE, CLASSES), **extra)


@pytest.mark.parametrize("label, country, region, expected", [
    ("Lion", "KE", "", "Lion"),             # in range
    ("Lion", "US", "US-TX", "Felidae"),     # out of range: its parent is allowed in the US
    ("Lion", "BR", "", "Animal"),           # parent out of range too: Animal
    ("Puma", "US", "US-CA", "Puma"),        # allowed by region
    ("Puma", "US", "US-TX", "Felidae"),
    ("Zebra", "BR", "", "Zebra"),           # not in the table: allowed everywhere
    ("Lion", "", "", "Lion"),               # a site without a country is never fenced
])
def test_roll_up(label, country, region, expected):
    assert roll_up(fenced(), label, country, region) == expected


def test_geofence_off_by_default_changes_nothing():
    classifier = fenced()
    classifier.geofence = False
    assert roll_up(classifier, "Lion", "BR", "") == "Lion"
    assert Classifier._meta.get_field("geofence").default is False


def test_a_parent_cycle_ends():
    classifier = Classifier(classes=["A", "B"], geofence=True, species_ranges={
        "A": {"allowed": ["KE"], "parent": "B"}, "B": {"allowed": ["KE"], "parent": "A"}})
    assert roll_up(classifier, "A", "US", "") == "A"  # back at A: stop, keep what we have


@pytest.mark.parametrize("data, message", [
    (b"class,countries\nTiger,IN\n", "ranges.csv line 2: 'Tiger' is not a class"),
    (b"class,countries\nLion,KE\nLion,XX\n", "line 3: 'Lion': 'XX' is not an ISO 3166"),
    (b"class,countries\nLion,KE-\n", "'KE-' is not an ISO 3166"),
    # Shaped like a subdivision, but the US has none called ZZ (pycountry's ISO 3166-2).
    (b"class,countries\nPuma,US-ZZ\n", "line 2: 'Puma': 'US-ZZ' is not an ISO 3166"),
    (b"species,where\nLion,KE\n", "missing column(s) class, countries"),
])
def test_bad_range_tables_name_the_line(data, message):
    with pytest.raises(ClassifierError) as err:
        read_range_table("ranges.csv", data, CLASSES)
    assert message in str(err.value)


def test_check_ranges_normalises_codes():
    assert check_ranges({"Lion": {"allowed": ["ke", " tz "]}}, CLASSES) == {
        "Lion": {"allowed": ["KE", "TZ"], "parent": ""}}


@pytest.mark.django_db
def test_classification_rolls_up_out_of_range_predictions(colour_survey):  # noqa: F811
    survey, classifier, truth = colour_survey
    site = survey.sites.get()
    site.country = "KE"
    site.save()
    do_update_classifier(classifier, geofence=True, species_ranges={
        "blue": {"allowed": ["US"], "parent": "cool colour"},
        "red": {"allowed": ["KE"], "parent": ""}})
    do_classify_survey(survey)
    got = dict(Detection.objects.values_list("id", "classification"))
    assert got == {pk: {"blue": "cool colour"}.get(name, name) for pk, name in truth.items()}
    with pytest.raises(ClassifierError, match="'purple' is not a class"):
        do_update_classifier(classifier, species_ranges={"purple": {"allowed": ["KE"]}})
    classifier.refresh_from_db()
    assert "purple" not in classifier.species_ranges


@pytest.mark.django_db
def test_admin_uploads_a_range_table(client, colour_survey, media_storage):  # noqa: F811
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import UserFactory

    survey, classifier, _ = colour_survey
    staff = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(staff)
    url = f"/admin/classifiers/classifier/{classifier.pk}/change/"
    form = {"region": "", "description": "", "threshold": "0.3", "class_thresholds": "{}",
            "geofence": "on", "species_ranges": "{}"}
    bad = client.post(url, {**form, "range_table": SimpleUploadedFile(
        "ranges.csv", b"class,countries\npurple,KE\n")})
    assert bad.status_code == 200 and "ranges.csv line 2: &#x27;purple&#x27; is not a class" \
        in bad.content.decode()
    good = client.post(url, {**form, "range_table": SimpleUploadedFile(
        "ranges.csv", b"class,countries,parent\nred,KE TZ,warm\n")})
    assert good.status_code == 302
    classifier.refresh_from_db()
    assert classifier.geofence is True
    assert classifier.species_ranges == {"red": {"allowed": ["KE", "TZ"], "parent": "warm"}}
