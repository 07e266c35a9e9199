"""Label sets: region templates, CSV files, copies of another task; create_task and launch_task."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from accounts.taxonomy import Role
from annotation.exceptions import AnnotationError
from annotation.models import ClusterAnnotation, Label, Task
from annotation.services.label_sets import (
    LabelSpec,
    check_label_specs,
    labels_of_task,
    read_labels_csv,
    region_templates,
    template_labels,
)
from annotation.services.task_setup import do_create_task
from annotation.taxonomy import TaggingLevel, TaskStatus
from tests.annotation.helpers import launched_task
from tests.factories import OrganisationFactory, SurveyFactory, member

REGIONS = ("Southern Africa", "East Africa", "North America", "Europe")


def test_every_region_template_is_a_valid_hierarchy():
    assert set(REGIONS) <= set(region_templates())
    for region in REGIONS:
        specs = template_labels(region)
        check_label_specs(specs, source=region)
        assert len(specs) >= 15
        assert any(spec.parent for spec in specs), region  # a real hierarchy
    assert template_labels("europe") == template_labels("Europe")
    with pytest.raises(AnnotationError, match="no label template called “Mars”.*Europe"):
        template_labels("Mars")


@pytest.mark.parametrize(("specs", "message"), [
    ([LabelSpec("Owl", "n")], "reserved"),
    ([LabelSpec("Owl", "o"), LabelSpec("Oriole", "O")], "share the hotkey"),
    ([LabelSpec("Bird", "b"), LabelSpec("Owl", "o", "Bird"), LabelSpec("bird", "x")],
     "appears twice"),
    ([LabelSpec("Owl", "o", "Bird")], "not a label above it"),
    ([LabelSpec("Unknown", "k")], "special label"),
    ([LabelSpec("O" * 101, "o")], "longer than 100"),
    ([LabelSpec("Owl", "%")], "letter or a digit"),
])
def test_label_rules_are_refused_with_a_reason(specs, message):
    with pytest.raises(AnnotationError, match=message):
        check_label_specs(specs)


def test_hotkeys_are_per_level_and_reserved_keys_only_at_the_top():
    check_label_specs([LabelSpec("Bird", "b"), LabelSpec("Blackbird", "b", "Bird"),
                       LabelSpec("Nightjar", "n", "Bird")])


def test_csv_labels_with_parents_and_errors_naming_file_and_line():
    data = (b"name,hotkey,parent,description\nBird,b,,All birds\nOwl,o,Bird,\n"
            b"Zebra,z,,\n\n")
    assert read_labels_csv("labels.csv", data) == [
        LabelSpec("Bird", "b", None, "All birds"), LabelSpec("Owl", "o", "Bird", ""),
        LabelSpec("Zebra", "z", None, "")]
    assert read_labels_csv("x.csv", b"\xef\xbb\xbfName\nZebra\n") == [LabelSpec("Zebra")]
    with pytest.raises(AnnotationError, match="x.csv: the file is not UTF-8"):
        read_labels_csv("x.csv", "name\nGemsbok é\n".encode("latin-1"))
    with pytest.raises(AnnotationError, match="x.csv: the first row must be the header"):
        read_labels_csv("x.csv", b"Zebra,z\n")
    with pytest.raises(AnnotationError, match="unknown column.*colour"):
        read_labels_csv("x.csv", b"name,colour\nZebra,red\n")
    with pytest.raises(AnnotationError, match="x.csv, line 3: the name is empty"):
        read_labels_csv("x.csv", b"name,hotkey\nZebra,z\n,l\n")
    with pytest.raises(AnnotationError, match="x.csv: .*share the hotkey"):
        read_labels_csv("x.csv", b"name,hotkey\nZebra,z\nZorilla,Z\n")


@pytest.mark.django_db
def test_a_template_task_keeps_its_hierarchy_and_copies_into_another():
    survey = SurveyFactory()
    task = do_create_task(survey, name="Park", labels=template_labels("Southern Africa"),
                          acting_user=member(survey.organisation, Role.ADMIN))
    waterbuck = Label.objects.get(task=task, name="Waterbuck")
    assert (waterbuck.parent.name, waterbuck.hotkey) == ("Antelope", "w")
    assert Label.objects.get(task=task, name="Antelope").description
    copy = do_create_task(survey, name="Copy", labels=labels_of_task(task), acting_user=None)
    assert labels_of_task(copy) == labels_of_task(task)
    assert Label.objects.filter(task=copy).count() == len(template_labels("Southern Africa"))


@pytest.mark.django_db
def test_a_refused_label_list_writes_nothing():
    survey = SurveyFactory()
    with pytest.raises(AnnotationError):
        do_create_task(survey, name="Bad", labels=[LabelSpec("Zebra", "z"),
                                                   LabelSpec("Zorilla", "z")], acting_user=None)
    assert not Task.objects.exists() and not Label.objects.filter(task__isnull=False).exists()


@pytest.mark.django_db
def test_create_task_command_prints_the_id_from_template_csv_or_copy(tmp_path, capsys):
    survey = SurveyFactory()
    org = str(survey.organisation.pk)
    call_command("create_task", survey=survey.name, org=org, name="T", template="Europe")
    first = Task.objects.get(pk=int(capsys.readouterr().out.strip()))
    assert first.labels.filter(name="Red Deer", hotkey="d").exists()
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("name,hotkey\nOkapi,o\n")
    call_command("create_task", survey=survey.name, org=org, name="C", labels_csv=str(csv_file))
    second = Task.objects.get(pk=int(capsys.readouterr().out.strip()))
    assert list(second.labels.values_list("name", flat=True)) == ["Okapi"]
    call_command("create_task", survey=survey.name, org=org, name="Copy", copy_from=first.pk)
    third = Task.objects.get(pk=int(capsys.readouterr().out.strip()))
    assert third.labels.count() == first.labels.count()
    other = launched_task(1, organisation=OrganisationFactory())
    with pytest.raises(CommandError, match=f"has no task {other.pk}"):
        call_command("create_task", survey=survey.name, org=org, name="X", copy_from=other.pk)
    with pytest.raises(CommandError, match="no file"):
        call_command("create_task", survey=survey.name, org=org, name="Y",
                     labels_csv=str(tmp_path / "missing.csv"))


@pytest.mark.django_db
def test_launch_task_command_sets_level_and_batch_size(capsys):
    task = launched_task(2)
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.DRAFT)
    call_command("launch_task", task=task.pk, batch_size=50)
    assert "launched at the species level: 0 cluster(s) added" in capsys.readouterr().out
    task.refresh_from_db()
    assert (task.status, task.batch_size) == (TaskStatus.LAUNCHED, 50)
    assert ClusterAnnotation.objects.filter(task=task).count() == 2
    with pytest.raises(CommandError, match="between 1 and 10,000"):
        call_command("launch_task", task=task.pk, batch_size=0)
    with pytest.raises(CommandError, match="no classifier"):
        call_command("launch_task", task=task.pk, level=TaggingLevel.AI_CHECK, batch_size=9)
    task.refresh_from_db()  # the refused launch changed nothing
    assert (task.tagging_level, task.batch_size) == (TaggingLevel.SPECIES, 50)
    with pytest.raises(CommandError, match="There is no task 999999"):
        call_command("launch_task", task=999999)


@pytest.mark.django_db
def test_admin_adds_labels_from_a_template_a_csv_or_another_task(client):
    org = OrganisationFactory()
    client.force_login(member(org, Role.ADMIN))
    survey = SurveyFactory(organisation=org)
    foreign = launched_task(1)  # another organisation's task

    def add(name, **extra):
        data = {"survey": survey.pk, "name": name, "tagging_level": "species",
                "auto_label": "off", "labels-TOTAL_FORMS": 0, "labels-INITIAL_FORMS": 0,
                **extra}
        return client.post("/admin/annotation/task/add/", data)

    assert add("Tpl", label_template="North America").status_code == 302
    tpl = Task.objects.get(name="Tpl")
    assert tpl.labels.count() == len(template_labels("North America"))
    upload = SimpleUploadedFile("l.csv", b"name,hotkey\nOkapi,o\nOkapi,k\n")
    body = add("Csv", labels_csv=upload).content.decode()
    assert "appears twice" in body and not Task.objects.filter(name="Csv").exists()
    assert add("Copied", copy_labels_from=tpl.pk).status_code == 302
    assert Task.objects.get(name="Copied").labels.count() == tpl.labels.count()
    body = add("Foreign", copy_labels_from=foreign.pk).content.decode()
    assert "Select a valid choice" in body  # another organisation's task is not offered
    body = add("Two", label_template="Europe", copy_labels_from=tpl.pk).content.decode()
    assert "Choose one source of labels" in body


@pytest.mark.django_db
def test_a_labels_description_is_its_buttons_tooltip_as_text(client):
    from annotation.services.task_setup import do_launch_task
    from tests.annotation.helpers import annotator_for
    from tests.factories import ClusterFactory, SiteFactory

    survey = SurveyFactory(status="ready")
    ClusterFactory(site=SiteFactory(survey=survey))
    task = do_create_task(survey, name="T", acting_user=None, labels=[
        LabelSpec("Duiker", "d", None, 'small antelope "<b>x</b>"')])
    do_launch_task(task, acting_user=None)
    client.force_login(annotator_for(task))
    body = client.get(f"/annotate/{task.pk}/").content.decode()
    assert 'title="small antelope &quot;&lt;b&gt;x&lt;/b&gt;&quot;"' in body


@pytest.mark.django_db
def test_adding_labels_costs_one_insert_per_level_whatever_their_number():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotation.services.task_setup import do_add_labels

    survey = SurveyFactory()
    admin_user = member(survey.organisation, Role.ADMIN)
    specs = template_labels("Southern Africa")
    depth = 1 + any(spec.parent for spec in specs)
    task = do_create_task(survey, name="Empty", labels=[], acting_user=admin_user)
    with CaptureQueriesContext(connection) as run:
        made = do_add_labels(task, specs, acting_user=admin_user)
    inserts = [q for q in run.captured_queries if q["sql"].lstrip().upper().startswith("INSERT")
               and "annotation_label" in q["sql"]]
    assert len(specs) > 20 and len(inserts) == depth
    assert [label.name for label in made] == [spec.name for spec in specs]
    assert labels_of_task(task) == labels_of_task(
        do_create_task(survey, name="Again", labels=specs, acting_user=admin_user))
