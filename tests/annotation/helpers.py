"""Small builders for annotation tests."""

from datetime import UTC, datetime, timedelta

from accounts.taxonomy import Role
from annotation.services.task_setup import do_create_task, do_launch_task
from surveys.taxonomy import SurveyStatus
from tests.factories import ClusterFactory, ImageFactory, SiteFactory, SurveyFactory, member


def launched_task(n_clusters=5, organisation=None, labels=(("Zebra", "z"), ("Lion", "l"))):
    """A ready survey with ``n_clusters`` one-image clusters and a launched task."""
    survey = SurveyFactory(status=SurveyStatus.READY,
                           **({"organisation": organisation} if organisation else {}))
    site = SiteFactory(survey=survey)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(n_clusters):
        cluster = ClusterFactory(site=site, start=t0 + timedelta(hours=i))
        ImageFactory(camera__site=site, cluster=cluster,
                     corrected_timestamp=t0 + timedelta(hours=i), web_key="")
    admin = member(survey.organisation, Role.ADMIN)
    task = do_create_task(survey, name="Species", labels=list(labels), acting_user=admin)
    do_launch_task(task, acting_user=admin)
    return task


def annotator_for(task, **kwargs):
    return member(task.survey.organisation, Role.ANNOTATOR, **kwargs)
