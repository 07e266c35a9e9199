from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import has_capability
from accounts.selectors import pending_invitations_for
from accounts.taxonomy import Capability

from .exceptions import AnnotationError
from .explore import (
    ExploreFilters,
    explore_annotation,
    explore_annotations,
    explore_choices,
    explore_images,
    task_for_explore,
)
from .forms import AcceptForm, ExploreForm, RelabelForm
from .selectors import (
    annotatable_task,
    annotatable_tasks_with_progress,
    labels_for,
)
from .services.bulk import check_accept, do_accept_suggestions, do_relabel


def home(request):
    if not request.user.is_authenticated:
        return render(request, "home.html", {})
    return render(request, "home.html", {
        "tasks": annotatable_tasks_with_progress(request.user),
        "invitations": pending_invitations_for(request.user),
    })


@login_required
def tagging_page(request, task_id: int):
    task = annotatable_task(request.user, task_id)
    if task is None:
        raise Http404("No such task, or you may not annotate it.")
    labels = labels_for(task)
    return render(request, "annotation/tagging.html", {
        "task": task,
        "labels": labels,
        "labels_json": [
            {"id": label.pk, "name": label.name, "hotkey": label.hotkey,
             "exclusive": label.exclusive}
            for label in labels
        ],
    })


# --- Explore: a task's clusters as a filtered grid, and the bulk actions on them ----------
# (wrapped by admin_view in annotation/urls.py: staff members of the task's organisation)

EXPLORE_PER_PAGE = 60


def _explore_task(request, task_id: int):
    task = task_for_explore(request.user, task_id)
    if task is None:
        raise Http404("No such task, or you may not see it.")
    return task


def _explore_url(task, query: str = "") -> str:
    url = reverse("annotation:explore", args=[task.pk])
    return f"{url}?{query}" if query else url


@require_GET
def explore_page(request, task_id: int):
    """The task's clusters filtered by the GET parameters, a page of thumbnails at a time."""
    task = _explore_task(request, task_id)
    choices = explore_choices(task)
    form = ExploreForm(request.GET or None, choices=choices)
    filters = form.filters() if form.is_bound else ExploreFilters()
    page = Paginator(explore_annotations(task, filters), EXPLORE_PER_PAGE).get_page(
        request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "annotation/explore.html", {
        **admin.site.each_context(request), "task": task, "form": form, "page": page,
        "query": query.urlencode(), "labels": choices["labels"],
        "may_change": has_capability(request.user, task.survey, Capability.CHANGE),
        "tz": task.survey.timezone,
    })


@require_GET
def explore_cluster(request, task_id: int, annotation_id: int):
    """One cluster: every image with its boxes, its labels and where they came from."""
    task = _explore_task(request, task_id)
    annotation = explore_annotation(task, annotation_id)
    if annotation is None:
        raise Http404("No such cluster in this task.")
    return render(request, "annotation/explore_cluster.html", {
        **admin.site.each_context(request), "task": task, "annotation": annotation,
        "images": explore_images(annotation), "tz": task.survey.timezone,
        "back": _explore_url(task, request.GET.urlencode()),
    })


@require_http_methods(["GET", "POST"])
def explore_accept(request, task_id: int):
    """GET: how many clusters accepting the class's suggestions would label; POST: do it."""
    task = _explore_task(request, task_id)
    form = AcceptForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        messages.error(request, "Choose an AI class and a confidence between 0 and 1.")
        return redirect(_explore_url(task))
    suggestion, min_score = form.cleaned_data["suggestion"], form.cleaned_data["min_score"]
    try:
        if request.method == "GET":
            preview = check_accept(task, suggestion, min_score, acting_user=request.user)
            return render(request, "annotation/explore_accept.html", {
                **admin.site.each_context(request), "task": task, "preview": preview})
        action = do_accept_suggestions(task, suggestion, min_score, acting_user=request.user)
    except AnnotationError as exc:
        messages.error(request, str(exc))
        return redirect(_explore_url(task))
    messages.success(request, f"{action.count} cluster(s) labelled: {action.description}.")
    return redirect(_explore_url(task, urlencode({"suggestion": suggestion,
                                                  "min_score": min_score,
                                                  "state": "labelled"})))


@require_POST
def explore_relabel(request, task_id: int):
    """Give the selected clusters the chosen labels, then back to the same filters."""
    task = _explore_task(request, task_id)
    form = RelabelForm(request.POST, labels=explore_choices(task)["labels"])
    back = _explore_url(task, request.POST.get("query", "")[:2000])
    if not form.is_valid():
        messages.error(request, "Select clusters and at least one label.")
        return redirect(back)
    try:
        action = do_relabel(task, form.cleaned_data["annotations"],
                            form.cleaned_data["labels"], acting_user=request.user)
    except AnnotationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, action.description + ".")
    return redirect(back)
