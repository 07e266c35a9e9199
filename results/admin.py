from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from accounts.scoping import OrgScopedModelAdmin
from core.exceptions import UserError

from .models import Export
from .services.exports import do_delete_exports, do_request_export
from .taxonomy import ExportStatus


@admin.register(Export)
class ExportAdmin(OrgScopedModelAdmin):
    """Request an export (a worker makes it) and download it while it is kept.

    The training app extends this page (training.admin): its training-data form and
    the action that trains a classifier on a training-data export.
    """

    list_display = ["__str__", "task", "status", "progress", "download", "created_at",
                    "expires_at"]
    list_filter = ["status", "kind"]
    fields = ["survey", "task", "kind"]
    readonly_fields = ["status", "message", "progress", "download", "created_by",
                       "created_at", "finished_at", "expires_at"]
    autocomplete_fields = ["survey"]

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else ["survey", "task", "kind", *self.readonly_fields]

    def has_change_permission(self, request, obj=None):
        return False  # a worker makes an export; people request, download and delete it

    @admin.display(description="Progress")
    def progress(self, obj):
        if obj.status == ExportStatus.RUNNING and obj.total:
            return f"{obj.done} / {obj.total}"
        return obj.message or "—"

    @admin.display(description="File")
    def download(self, obj):
        if obj.status != ExportStatus.DONE or not obj.file_key:
            return "—"
        return format_html('<a href="{}">{}</a> ({} kB)',
                           reverse("export_download", args=[obj.pk]), obj.file_name,
                           max(1, obj.file_size // 1024))

    def save_model(self, request, obj, form, change):
        try:
            created = do_request_export(obj.survey, obj.kind, task=obj.task,
                                        acting_user=request.user)
        except UserError as exc:
            messages.error(request, str(exc))
            return
        obj.pk = created.pk
        messages.info(request, "The export is queued; this page shows when it is ready.")

    def delete_model(self, request, obj):
        do_delete_exports(Export.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        do_delete_exports(queryset)
