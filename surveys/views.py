from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.views.decorators.http import require_GET

from core import storage

from .selectors import image_file_key, image_for


@login_required
@require_GET
def image_file(request, image_id: int, variant: str):
    """An image (``web`` copy or ``original``) for members of its organisation only."""
    image = image_for(request.user, image_id)
    key = image_file_key(image, variant) if image is not None else None
    if key is None:
        raise Http404("No such image.")
    local = storage.local_path(key)
    if local is None:
        return HttpResponseRedirect(storage.url(key))
    response = FileResponse(open(local, "rb"), content_type="image/jpeg")  # noqa: SIM115
    response["Cache-Control"] = "private, max-age=3600"
    return response
