from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .health import health


@never_cache
@require_GET
def healthz(request):
    """200 when every part answers, 503 otherwise; JSON without secrets."""
    report = health()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
