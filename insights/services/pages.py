"""What the insights views render: each page's context and each plot's downloads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from annotation.models import Label, Task
from surveys.models import Cluster, Site, Survey

from .aggregates import Filters, survey_insights
from .charts import FORMATS, render, sections
from .classifier_aggregates import classifier_insights
from .classifier_plots import CLASSIFIER_PLOTS
from .plots import PLOTS
from .task_aggregates import task_insights
from .task_plots import TASK_PLOTS

__all__ = ["CLASSIFIER_PLOTS", "FORMATS", "PLOTS", "TASK_PLOTS", "Choices", "classifier_download",
           "classifier_page", "filter_choices", "survey_download", "survey_page", "task_download",
           "task_page"]

Link = Callable[[str, str], str]  # (plot slug, format) -> the download's URL


@dataclass
class Choices:
    species: list[str]
    sites: list[tuple[int, str]]
    tasks: list[tuple[int, str]]


def filter_choices(survey: Survey) -> Choices:
    """What the filters offer: species of any task or suggestion, sites, tasks (3 queries)."""
    species = set(Label.objects.filter(task__survey=survey).values_list("name", flat=True))
    species |= set(Cluster.objects.filter(survey=survey).exclude(suggestion="").order_by()
                   .values_list("suggestion", flat=True).distinct())
    return Choices(
        species=sorted(species, key=str.casefold),
        sites=list(Site.objects.filter(survey=survey).order_by("name", "id")
                   .values_list("id", "name")),
        tasks=list(Task.objects.filter(survey=survey).order_by("-created_at", "-id")
                   .values_list("id", "name")),
    )


def survey_page(survey: Survey, filters: Filters, link: Link) -> dict:
    """The headline numbers and every chart as a Vega-Lite spec, for the survey's page."""
    ins = survey_insights(survey, filters)
    return {"insights": ins, "headline": ins.headline, "plots": sections(PLOTS, ins, link)}


def survey_download(survey: Survey, filters: Filters, slug: str, fmt: str) -> tuple[bytes, str]:
    """One survey plot as SVG or PNG, or its data as CSV: (content, content type).

    Raises KeyError for an unknown plot or format (the view answers 404).
    """
    return render(PLOTS[slug], survey_insights(survey, filters), fmt)


def task_page(task: Task, link: Link) -> dict:
    """A task's progress, throughput and agreement, every chart as a Vega-Lite spec."""
    ins = task_insights(task)
    return {"insights": ins, "plots": sections(TASK_PLOTS, ins, link)}


def task_download(task: Task, slug: str, fmt: str) -> tuple[bytes, str]:
    """One plot of the task's page as a download (KeyError: unknown plot or format)."""
    return render(TASK_PLOTS[slug], task_insights(task), fmt)


def classifier_page(task: Task, threshold: float, link: Link) -> dict:
    """How the survey's classifier did against the task's labels, at ``threshold``."""
    ins = classifier_insights(task, threshold)
    return {"insights": ins, "plots": sections(CLASSIFIER_PLOTS, ins, link)}


def classifier_download(task: Task, threshold: float, slug: str,
                        fmt: str) -> tuple[bytes, str]:
    """One plot of the classifier page as a download (KeyError: unknown plot or format)."""
    return render(CLASSIFIER_PLOTS[slug], classifier_insights(task, threshold), fmt)
