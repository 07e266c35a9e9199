from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.views.decorators.http import require_GET

from .selectors import image_for_member


@login_required
@require_GET
def image_file(request, image_id: int, variant: str):
    """An image (``web`` copy or ``original``) for members of its organisation only."""
    if variant not in ("web", "original"):
        raise Http404("Unknown image variant.")
    image = image_for_member(request.user, image_id)
    if image is None:
        raise Http404("No such image.")
    key = image.web_key if variant == "web" and image.web_key else image.key
    if not key.startswith(f"surveys/{image.camera.site.survey_id}/"):
        raise Http404("No such image.")  # never serve an object of another survey
    if hasattr(default_storage, "path"):
        try:
            local = default_storage.path(key)
        except NotImplementedError:
            local = None
        if local:
            response = FileResponse(open(local, "rb"), content_type="image/jpeg")
            response["Cache-Control"] = "private, max-age=3600"
            return response
    return HttpResponseRedirect(default_storage.url(key))
