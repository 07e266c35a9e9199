from django.contrib import admin

from accounts.scoping import OrgScopedModelAdmin

from .models import Classifier, Detection


@admin.register(Classifier)
class ClassifierAdmin(OrgScopedModelAdmin):
    list_display = ["name", "organisation", "input_size", "threshold", "created_at"]
    search_fields = ["name"]

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return []
        # Model files are registered by the training pipeline, not typed in.
        return ["model_key", "classes", "input_size"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not request.user.is_superuser and "organisation" in form.base_fields:
            # Only site staff publish classifiers shared by every organisation.
            form.base_fields["organisation"].required = True
        return form


@admin.register(Detection)
class DetectionAdmin(OrgScopedModelAdmin):
    list_display = ["id", "image", "category", "score", "classification", "status"]
    list_filter = ["category", "status"]
    raw_id_fields = ["image"]

    def has_add_permission(self, request, *args):
        return False
