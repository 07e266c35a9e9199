"""The main job end to end: import → cluster → detect → classify → label → CSV."""

import csv
import io
import os

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.management import call_command

from accounts.taxonomy import Role
from annotation.models import ClusterAnnotation, Label
from annotation.services.task_setup import do_create_task, do_launch_task
from classifiers import tasks as ai_tasks
from results.services.results import RESULT_COLUMNS
from surveys import tasks as survey_tasks
from surveys.models import Cluster, ImportRun
from surveys.taxonomy import SurveyStatus
from tests.conftest import ws_headers
from tests.factories import OrganisationFactory, SurveyFactory, member
from traptagger.asgi import application


@pytest.mark.django_db(transaction=True)
def test_main_job(demo_source, demo_classifier, tmp_path):
    root, truth = demo_source
    org = OrganisationFactory(name="Serengeti Lab")
    admin = member(org, Role.ADMIN, username="lead")
    annotator = member(org, Role.ANNOTATOR, username="tagger")
    survey = SurveyFactory(organisation=org, name="Season 1", classifier=demo_classifier,
                           timezone="Africa/Dar_es_Salaam")

    # The worker's tasks, in pipeline order, each run a second time to show it is a no-op.
    run = ImportRun.objects.create(survey=survey, source=str(root))
    for task, arg, stage in (
        (survey_tasks.run_import_task, run.pk, SurveyStatus.CLUSTERING),
        (survey_tasks.cluster_survey_task, survey.pk, SurveyStatus.DETECTING),
        (ai_tasks.detect_survey_task, survey.pk, SurveyStatus.STATIC),
        (ai_tasks.find_static_detections_task, survey.pk, SurveyStatus.CLASSIFYING),
        (ai_tasks.classify_survey_task, survey.pk, SurveyStatus.READY),
    ):
        task(arg)
        task(arg)
        survey.refresh_from_db()
        assert survey.status == stage, (task.name, survey.status_detail)
    assert Cluster.objects.filter(survey=survey).count() == 16

    task = do_create_task(survey, name="Species", acting_user=admin,
                          labels=[("Zebra", "z"), ("Elephant", "e"), ("Lion", "l")])
    assert do_launch_task(task, acting_user=admin) == 16
    label_ids = {label.name: label.pk for label in Label.objects.filter(task=task)}
    label_ids["Nothing"] = Label.objects.get(task=None, name="Nothing").pk
    species_of = {t.path: t.species for t in truth}
    first_image = {}
    for cluster in Cluster.objects.filter(survey=survey).prefetch_related("images__camera"):
        image = sorted(cluster.images.all(), key=lambda i: i.filename)[0]
        first_image[cluster.pk] = f"{image.camera.path}/{image.filename}"

    comm = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/",
                                 headers=ws_headers(annotator))

    async def label_everything():
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "cluster.request"})
        labelled = 0
        while True:
            message = await comm.receive_json_from(timeout=20)
            if message["type"] == "task.finished":
                break
            assert message["type"] == "cluster.offered"
            species = species_of[first_image[message["cluster_id"]]] or "Nothing"
            await comm.send_json_to({
                "type": "label.submit", "annotation_id": message["annotation_id"],
                "lease": message["lease"], "labels": [label_ids[species]],
            })
            assert (await comm.receive_json_from(timeout=20))["type"] == "label.saved"
            labelled += 1
        await comm.disconnect()
        return labelled, message["progress"]

    labelled, progress = async_to_sync(label_everything)()
    assert labelled == 16 and progress == {"done": 16, "total": 16}
    assert ClusterAnnotation.objects.filter(task=task, annotator=annotator).count() == 16

    out = tmp_path / "results.csv"
    call_command("export_results", "--task", str(task.pk), "--out", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0].keys()) == RESULT_COLUMNS
    assert len(rows) == 16
    for row in rows:
        cluster_id = int(row["cluster_id"])
        path = first_image[cluster_id]
        assert row["species"] == (species_of[path] or "Nothing")
        assert row["site"] == path.split("/")[0]
        assert row["camera"] == os.path.dirname(path)
        assert row["annotator"] == "tagger"
        assert row["first_timestamp"].endswith("+03:00")
        taken = next(t.taken for t in truth if t.path == path)
        assert row["first_timestamp"].startswith(taken.strftime("%Y-%m-%dT%H:%M:%S"))
        if row["species"] == "Nothing":
            assert row["count"] == "0"
    animal_counts = [int(r["count"]) for r in rows if r["species"] != "Nothing"]
    assert sum(c >= 1 for c in animal_counts) >= len(animal_counts) - 2
    assert {r["species"] for r in rows} >= {"Zebra", "Elephant", "Lion", "Nothing"}
