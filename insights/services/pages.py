"""What the insights views render: the page's context and each plot's downloads."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from annotation.models import Label, Task
from surveys.models import Cluster, Site, Survey
from training.services.results import safe_cell

from .aggregates import Filters, SurveyInsights, survey_insights
from .plots import PLOTS, inline_svg, png_bytes, svg_bytes

FORMATS = {"svg": "image/svg+xml", "png": "image/png", "csv": "text/csv; charset=utf-8"}


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


def page_context(survey: Survey, filters: Filters) -> dict:
    """The headline numbers and every plot as inline SVG, for the survey's page."""
    ins = survey_insights(survey, filters)
    return {
        "insights": ins,
        "headline": ins.headline,
        "plots": [{"slug": p.slug, "title": p.title, "note": p.note,
                   "svg": inline_svg(p.draw(ins), f"plot-{p.slug}")} for p in PLOTS.values()],
    }


def table_csv(ins: SurveyInsights, slug: str) -> bytes:
    columns, rows = PLOTS[slug].table(ins)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return out.getvalue().encode()


def download(survey: Survey, filters: Filters, slug: str, fmt: str) -> tuple[bytes, str]:
    """One plot as SVG or PNG, or its data as CSV: (content, content type).

    Raises KeyError for an unknown plot or format (the view answers 404).
    """
    plot, content_type = PLOTS[slug], FORMATS[fmt]
    ins = survey_insights(survey, filters)
    if fmt == "csv":
        return table_csv(ins, slug), content_type
    fig = plot.draw(ins)
    return (svg_bytes(fig) if fmt == "svg" else png_bytes(fig)), content_type
