"""Reads of the insights app, through the access gateway."""

from accounts.taxonomy import Capability
from annotation.models import Task
from surveys.models import Survey


def survey_for_insights(user, survey_id) -> Survey | None:
    """The survey if ``user`` may view its organisation's data (admin, write, read roles)."""
    return Survey.objects.accessible_to(user, Capability.VIEW).filter(pk=survey_id).first()


def task_for_insights(user, task_id) -> Task | None:
    """The task, with its survey and the survey's classifier, if ``user`` may view its
    organisation's data (the same rule as the survey's page)."""
    return (Task.objects.accessible_to(user, Capability.VIEW).filter(pk=task_id)
            .select_related("survey", "survey__classifier").first())
