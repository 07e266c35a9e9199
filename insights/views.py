"""Insights pages: parse the filters, call one service, render (wrapped by admin_view).

Every page has a download route ``<page>/<slug>.<fmt>`` (SVG, PNG or the data as CSV)
that takes the page's own query string.
"""

from django.contrib import admin
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from .exceptions import InsightsInputError
from .forms import InsightsFilterForm, ThresholdForm
from .selectors import survey_for_insights, task_for_insights
from .services.aggregates import Filters
from .services.pages import (
    CLASSIFIER_PLOTS,
    FORMATS,
    PLOTS,
    TASK_PLOTS,
    classifier_download,
    classifier_page,
    filter_choices,
    survey_download,
    survey_page,
    task_download,
    task_page,
)


def _linker(route: str, object_id: int, query: str):
    suffix = f"?{query}" if query else ""
    return lambda slug, fmt: reverse(route, args=[object_id, slug, fmt]) + suffix


def _attachment(produced: tuple[bytes, str], filename: str) -> HttpResponse:
    content, content_type = produced
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _bad_input(exc: InsightsInputError) -> HttpResponse:
    return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")


def _check_plot(plots, slug: str, fmt: str) -> None:
    if slug not in plots or fmt not in FORMATS:
        raise Http404("No such plot or format.")


def _page(request, template: str, context: dict, make):
    """Render ``template``; ``make()`` gives the page's data or raises InsightsInputError."""
    context = {**admin.site.each_context(request), **context, "query": request.GET.urlencode()}
    try:
        return render(request, template, {**context, **make()})
    except InsightsInputError as exc:
        return render(request, template, {**context, "error": str(exc)}, status=400)


# --- survey ------------------------------------------------------------------------------
def _survey_and_form(request, survey_id):
    survey = survey_for_insights(request.user, survey_id)
    if survey is None:
        raise Http404("No survey with this id in your organisations.")
    choices = filter_choices(survey)
    form = InsightsFilterForm(request.GET or None, species=choices.species,
                              sites=choices.sites, tasks=choices.tasks)
    return survey, form


def _filters(form) -> Filters:
    return form.filters() if form.is_bound else Filters()


@require_GET
def survey_page_view(request, survey_id: int):
    survey, form = _survey_and_form(request, survey_id)
    link = _linker("insights:plot_file", survey.pk, request.GET.urlencode())
    return _page(request, "insights/survey.html",
                 {"survey": survey, "form": form, "title": f"Insights: {survey}"},
                 lambda: survey_page(survey, _filters(form), link))


@require_GET
def plot_file(request, survey_id: int, slug: str, fmt: str):
    _check_plot(PLOTS, slug, fmt)
    survey, form = _survey_and_form(request, survey_id)
    try:
        filters = _filters(form)
    except InsightsInputError as exc:
        return _bad_input(exc)
    return _attachment(survey_download(survey, filters, slug, fmt),
                       f"survey-{survey.pk}-{slug}.{fmt}")


# --- task: annotation ----------------------------------------------------------------------
def _task(request, task_id):
    task = task_for_insights(request.user, task_id)
    if task is None:
        raise Http404("No task with this id in your organisations.")
    return task


@require_GET
def task_page_view(request, task_id: int):
    task = _task(request, task_id)
    link = _linker("insights:task_plot_file", task.pk, "")
    return _page(request, "insights/task.html", {"task": task, "title": f"Annotation: {task}"},
                 lambda: task_page(task, link))


@require_GET
def task_plot_file(request, task_id: int, slug: str, fmt: str):
    _check_plot(TASK_PLOTS, slug, fmt)
    task = _task(request, task_id)
    return _attachment(task_download(task, slug, fmt), f"task-{task.pk}-{slug}.{fmt}")


# --- task: classifier ----------------------------------------------------------------------
@require_GET
def classifier_page_view(request, task_id: int):
    task = _task(request, task_id)
    form = ThresholdForm(request.GET or None)
    link = _linker("insights:classifier_plot_file", task.pk, request.GET.urlencode())
    return _page(request, "insights/classifier.html",
                 {"task": task, "form": form, "title": f"Classifier against {task}"},
                 lambda: classifier_page(task, form.threshold_value(), link))


@require_GET
def classifier_plot_file(request, task_id: int, slug: str, fmt: str):
    _check_plot(CLASSIFIER_PLOTS, slug, fmt)
    task = _task(request, task_id)
    try:
        threshold = ThresholdForm(request.GET or None).threshold_value()
    except InsightsInputError as exc:
        return _bad_input(exc)
    return _attachment(classifier_download(task, threshold, slug, fmt),
                       f"task-{task.pk}-classifier-{slug}.{fmt}")
