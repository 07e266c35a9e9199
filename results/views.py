from django.http import FileResponse, Http404, HttpResponseRedirect
from django.views.decorators.http import require_GET

from accounts.api.auth import token_or_login_required
from accounts.taxonomy import Capability
from core import storage

from .selectors import downloadable_export


@token_or_login_required
@require_GET
def export_download(request, export_id: int):
    """A finished export's file, for members of its organisation who may view it: signed
    in, or with an API token (the API hands this link out)."""
    export = downloadable_export(request.user, export_id, Capability.VIEW)
    if export is None:
        raise Http404("No such export, or it has expired.")
    local = storage.local_path(export.file_key)
    if local is None:
        return HttpResponseRedirect(storage.url(export.file_key))
    return FileResponse(open(local, "rb"), as_attachment=True,  # noqa: SIM115
                        filename=export.file_name)
