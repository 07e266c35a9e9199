from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.safestring import mark_safe
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET

from .health import health
from .help import readme


@never_cache
@require_GET
def healthz(request):
    """200 when every part answers, 503 otherwise; JSON without secrets."""
    report = health()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


@cache_control(max_age=86400)
@require_GET
def favicon(request):
    """Browsers ask for /favicon.ico on every site: send them the static icon."""
    return HttpResponseRedirect(static("img/favicon.svg"))


def admin_page(view):
    """``view`` for staff only, as an admin page: anonymous people go to the admin log-in,
    and the answer is never cached (pages outside the admin built on its frame)."""
    return admin.site.admin_view(view)


@login_required
@require_GET
def help_page(request):
    """The guide (the README), which each admin page's help panel links into."""
    html, _ = readme()
    return render(request, "help.html", {"guide": mark_safe(html)})  # noqa: S308 - our README, raw HTML escaped
