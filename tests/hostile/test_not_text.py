"""Strings that are not UTF-8 text are refused where they come in, naming the field.

A lone surrogate (a JSON ``"\\ud800"`` escape, or a file name's bytes that are
not UTF-8) crashed MySQLdb's encoder at the first write. Run these on MariaDB
too (DATABASE_URL=mysql://...), where the crash was seen.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from accounts.services.api_tokens import do_create_api_token
from accounts.taxonomy import Role
from annotation.models import ClusterAnnotation, Label
from surveys.exceptions import ImportSourceError
from surveys.models import Image, ImportIssue, Survey
from surveys.services.importing import do_run_import, do_start_import
from tests.annotation.helpers import annotator_for, launched_task
from tests.conftest import subprocess_env, ws_headers
from tests.factories import SurveyFactory, member
from tests.hostile.test_hostile_import import photo
from traptagger.asgi import application

pytestmark = pytest.mark.hostile
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.django_db(transaction=True)
def test_a_lone_surrogate_on_the_tagging_socket_is_refused_and_the_page_goes_on():
    task = launched_task(1)
    user = annotator_for(task)
    zebra = Label.objects.get(task=task, name="Zebra")
    comm = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/",
                                 headers=ws_headers(user))

    async def run():
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "cluster.request"})
        offer = await comm.receive_json_from(timeout=5)
        pk, lease = offer["annotation_id"], offer["lease"]
        frames = [  # JSON escapes, as a page (or anyone) can send them
            f'{{"type": "label.submit", "annotation_id": {pk}, "lease": "\\ud800", '
            f'"labels": [{zebra.pk}]}}',
            f'{{"type": "label.submit", "annotation_id": {pk}, "lease": "{lease}", '
            f'"labels": [{zebra.pk}], "note": "ok \\udcff"}}',
            f'{{"type": "heartbeat", "annotation_id": {pk}, "lease": "\\ud83d"}}',
            '{"type": "cluster.request", "\\udfff": 1}',
        ]
        replies = []
        for frame in frames:
            await comm.send_to(text_data=frame)
            replies.append(await comm.receive_json_from(timeout=5))
        await comm.send_json_to({"type": "label.submit", "annotation_id": pk, "lease": lease,
                                 "labels": [zebra.pk], "note": "ok \U0001F993"})
        saved = await comm.receive_json_from(timeout=5)
        await comm.disconnect()
        return replies, saved

    replies, saved = async_to_sync(run)()
    assert [r["type"] for r in replies] == ["error"] * 4
    said = [r["message"] for r in replies]
    assert said[0].startswith("lease: ") and said[1].startswith("note: ")
    assert said[2].startswith("lease: ") and "a field name" in said[3]
    assert all("not valid UTF-8" in s for s in said)
    assert saved["type"] == "label.saved"
    assert ClusterAnnotation.objects.get(task=task).note == "ok \U0001F993"


@pytest.mark.django_db
def test_api_json_forms_and_addresses_that_are_not_text_get_400_naming_the_field(client):
    survey = SurveyFactory()
    admin = member(survey.organisation, Role.ADMIN)
    _token, key = do_create_api_token(admin, "t", acting_user=admin)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = (f'{{"organisation": {survey.organisation_id}, "name": "Season \\ud800", '
            '"timezone": "UTC"}')
    response = api.post("/api/surveys/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("name: ")
    nested = api.post("/api/exports/", '{"survey": 1, "options": {"x": ["a", "\\udc80"]}}',
                      content_type="application/json")
    assert nested.status_code == 400 and "options.x[1]" in nested.json()["detail"]
    # A query string with bytes that are not UTF-8 (here an encoded surrogate).
    assert api.get("/api/surveys/?search=%ED%A0%80").status_code == 400
    client.force_login(admin)
    form = client.post("/admin/surveys/survey/add/", "name=Season+%FF&timezone=UTC",
                       content_type="application/x-www-form-urlencoded")
    assert form.status_code == 400 and "'name'" in form.content.decode()
    assert not Survey.objects.filter(name__startswith="Season").exists()
    # UTF-8 text goes through as before.
    ok = api.post("/api/surveys/", {"organisation": survey.organisation_id,
                                    "name": "Season ü \U0001F993", "timezone": "UTC"},
                  format="json")
    assert ok.status_code == 201, ok.content


@pytest.mark.django_db
def test_import_folders_whose_names_are_not_utf8(tmp_path, media_storage):
    survey = SurveyFactory()
    bad_root = os.fsencode(str(tmp_path)) + b"/saison-\xe9t\xe9"
    os.makedirs(bad_root)
    with open(bad_root + b"/a.jpg", "wb") as fh:
        fh.write(photo(1))
    with pytest.raises(ImportSourceError, match="not UTF-8 text; rename the folder"):
        do_start_import(survey, os.fsdecode(bad_root))
    # Inside a good folder, a site folder with such a name: an issue for its files.
    src = tmp_path / "src"
    (src / "SiteA").mkdir(parents=True)
    (src / "SiteA" / "good.jpg").write_bytes(photo(2))
    bad_site = os.fsencode(str(src)) + b"/Site\xff"
    os.makedirs(bad_site)
    with open(bad_site + b"/b.jpg", "wb") as fh:
        fh.write(photo(3))
    run = do_start_import(survey, str(src))
    assert do_run_import(run) is True
    assert list(Image.objects.filter(camera__site__survey=survey)
                .values_list("filename", flat=True)) == ["good.jpg"]
    issue = ImportIssue.objects.get(import_run=run)
    assert issue.path == "Site\ufffd/b.jpg" and "not valid UTF-8" in issue.reason


@pytest.mark.django_db(transaction=True)
def test_a_command_line_argument_that_is_not_utf8_is_refused(tmp_path):
    proc = subprocess.run(
        [sys.executable, "manage.py", "import_survey", "--org", "x",
         "--survey", b"Saison \xe9t\xe9", "--source", str(tmp_path)],
        cwd=ROOT, env=subprocess_env(), capture_output=True, timeout=120)
    assert proc.returncode != 0
    err = proc.stderr.decode("utf-8", "replace")
    assert "argument 5" in err and "not valid UTF-8" in err and "Traceback" not in err
