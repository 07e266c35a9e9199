from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from accounts.selectors import pending_invitations_for

from .selectors import annotatable_task, annotatable_tasks_with_progress, labels_for


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
