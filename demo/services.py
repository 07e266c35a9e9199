"""The demo: an organisation, two accounts, a generated survey and a launched task.

Everything goes through the real services and the real queue, so the demo
exercises the same pipeline a user's survey does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from accounts.models import Organisation, User
from accounts.services.organisations import (
    do_add_member,
    do_create_organisation,
    do_reset_password,
)
from accounts.taxonomy import Role
from annotation.models import Task
from annotation.services.task_setup import do_create_task, do_launch_task
from annotation.taxonomy import TaskStatus
from surveys.models import ImportRun, Site, Survey
from surveys.services.importing import do_start_import
from surveys.services.surveys import do_get_or_create_survey, do_place_site
from surveys.taxonomy import ImportStatus, SurveyStatus
from training.services.demo_classifier import do_build_demo_classifier
from training.synthetic import DEMO_COORDINATES, SPECIES, write_demo_survey

DEMO_ORG = "Demo Wildlife Trust"
DEMO_ADMIN = "demo-admin"
DEMO_ANNOTATOR = "demo-annotator"
DEMO_SURVEY = "Demo Savanna 2024"
DEMO_TASK = "Species"
DEMO_HOTKEYS = {"Zebra": "z", "Elephant": "e", "Lion": "l"}


@dataclass
class Demo:
    organisation: Organisation
    survey: Survey
    task: Task | None
    credentials: dict[str, str]


def _credentials_file() -> Path:
    return settings.VAR_DIR / "demo-credentials.json"


def ensure_accounts(say=print) -> tuple[Organisation, dict[str, str]]:
    """The demo organisation, its admin and annotator; passwords kept under var/."""
    path = _credentials_file()
    credentials = json.loads(path.read_text()) if path.exists() else {}
    organisation = Organisation.objects.filter(name=DEMO_ORG).first()
    if organisation is None:
        new = do_create_organisation(
            DEMO_ORG, admin_username=DEMO_ADMIN, admin_email="demo-admin@example.org"
        )
        organisation, credentials[DEMO_ADMIN] = new.organisation, new.password
        say(f"Created the organisation “{DEMO_ORG}” and its admin {DEMO_ADMIN}.")
    if not User.objects.filter(username=DEMO_ANNOTATOR).exists():
        new = do_add_member(organisation, username=DEMO_ANNOTATOR,
                            email="demo-annotator@example.org", role=Role.ANNOTATOR)
        credentials[DEMO_ANNOTATOR] = new.password
    for username in (DEMO_ADMIN, DEMO_ANNOTATOR):
        if username not in credentials:  # the file was lost: set a new password
            credentials[username] = do_reset_password(User.objects.get(username=username))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(credentials, indent=2))
    path.chmod(0o600)
    return organisation, credentials


def wait_for_survey(survey: Survey, *, timeout: float, say=print) -> Survey:
    """Poll until the survey is ready (or failed); print stage changes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        survey.refresh_from_db()
        run = ImportRun.objects.filter(survey=survey).order_by("-id").first()
        line = survey.get_status_display()
        if survey.status == SurveyStatus.IMPORTING and run is not None:
            line += f" ({run.processed}/{run.total} files)"
        if line != last:
            say(f"  survey: {line}")
            last = line
        if survey.status in (SurveyStatus.READY, SurveyStatus.FAILED):
            return survey
        if run is not None and run.status == ImportStatus.FAILED:
            return survey
        time.sleep(0.5)
    raise TimeoutError(
        f"The demo survey is still {survey.get_status_display().lower()} after {timeout:.0f} s. "
        "Is a Celery worker running (celery -A traptagger worker -Q default,import,gpu)?"
    )


def ensure_demo(*, timeout: float = 900, say=print) -> Demo:
    """Create whatever part of the demo is missing; re-running reuses what exists."""
    organisation, credentials = ensure_accounts(say)
    admin = User.objects.get(username=DEMO_ADMIN)
    report = do_build_demo_classifier()
    if report.accuracy is not None:
        say(f"Trained the demo classifier (held-out accuracy {report.accuracy:.0%}).")
    survey = Survey.objects.filter(organisation=organisation, name=DEMO_SURVEY).first()
    created = survey is None
    if created:
        survey, _ = do_get_or_create_survey(
            organisation, DEMO_SURVEY, acting_user=admin, classifier=report.classifier,
            # The generated scenes hold no real animals: the weight-free motion detector
            # finds their painted ones, so the demo shows the whole pipeline.
            detector="motion",
            description="Generated scenes from three sites (demo data). Detector: the "
            "weight-free motion detector, since the scenes hold no real animals; new "
            "surveys use the default animal detector.")
    if created or survey.status in (SurveyStatus.NEW, SurveyStatus.FAILED):
        source = settings.VAR_DIR / "demo-source"
        if not source.exists():
            write_demo_survey(source)
        do_start_import(survey, str(source), acting_user=admin)
        say(f"Queued the import of {source} on the 'import' queue.")
    survey = wait_for_survey(survey, timeout=timeout, say=say)
    if survey.status != SurveyStatus.READY:
        say(f"The demo survey failed: {survey.status_detail}")
        return Demo(organisation, survey, None, credentials)
    for site in Site.objects.filter(survey=survey, name__in=DEMO_COORDINATES,
                                    latitude__isnull=True):
        latitude, longitude = DEMO_COORDINATES[site.name]
        do_place_site(site, latitude=latitude, longitude=longitude, acting_user=admin)
    task = Task.objects.filter(survey=survey, name=DEMO_TASK).first()
    if task is None:
        task = do_create_task(
            survey, name=DEMO_TASK, acting_user=admin,
            labels=[(name, DEMO_HOTKEYS[name]) for name in SPECIES],
        )
    if task.status != TaskStatus.LAUNCHED:
        do_launch_task(task, acting_user=admin)
    return Demo(organisation, survey, task, credentials)
