"""Insights pages: parse the filters, call one service, render (wrapped by admin_view)."""

from django.contrib import admin
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .exceptions import InsightsInputError
from .forms import InsightsFilterForm
from .selectors import survey_for_insights
from .services.aggregates import Filters
from .services.pages import FORMATS, download, filter_choices, page_context
from .services.plots import PLOTS


def _survey_and_form(request, survey_id):
    survey = survey_for_insights(request.user, survey_id)
    if survey is None:
        raise Http404("No survey with this id in your organisations.")
    choices = filter_choices(survey)
    form = InsightsFilterForm(request.GET or None, species=choices.species,
                              sites=choices.sites, tasks=choices.tasks)
    return survey, form


@require_GET
def survey_page(request, survey_id: int):
    survey, form = _survey_and_form(request, survey_id)
    context = {**admin.site.each_context(request), "survey": survey, "form": form,
               "title": f"Insights: {survey}", "query": request.GET.urlencode()}
    try:
        filters = form.filters() if form.is_bound else Filters()
    except InsightsInputError as exc:
        return render(request, "insights/survey.html", {**context, "error": str(exc)},
                      status=400)
    return render(request, "insights/survey.html", {**context, **page_context(survey, filters)})


@require_GET
def plot_file(request, survey_id: int, slug: str, fmt: str):
    if slug not in PLOTS or fmt not in FORMATS:
        raise Http404("No such plot or format.")
    survey, form = _survey_and_form(request, survey_id)
    try:
        filters = form.filters() if form.is_bound else Filters()
    except InsightsInputError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    content, content_type = download(survey, filters, slug, fmt)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="survey-{survey.pk}-{slug}.{fmt}"'
    return response
