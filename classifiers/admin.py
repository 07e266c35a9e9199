from django.contrib import admin

from accounts.access import is_site_staff
from accounts.scoping import OrgScopedModelAdmin
from core.admin_filters import choices_without, drop_choices

from .models import Classifier, Detection
from .taxonomy import UNWIRED_DETECTION_STATUSES


@admin.register(Classifier)
class ClassifierAdmin(OrgScopedModelAdmin):
    list_display = ["name", "organisation", "input_size", "threshold", "created_at"]
    search_fields = ["name"]

    def get_readonly_fields(self, request, obj=None):
        if is_site_staff(request.user):
            return []
        # Model files are registered by the training pipeline, not typed in.
        return ["model_key", "classes", "input_size"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not is_site_staff(request.user) and "organisation" in form.base_fields:
            # Only site staff publish classifiers shared by every organisation.
            form.base_fields["organisation"].required = True
        return form


@admin.register(Detection)
class DetectionAdmin(OrgScopedModelAdmin):
    list_display = ["id", "image", "category", "score", "classification", "status"]
    list_filter = ["category", ("status", choices_without(*UNWIRED_DETECTION_STATUSES))]
    raw_id_fields = ["image"]
    exclude = ["static"]  # hidden until static detection is wired
    readonly_fields = ["extra"]  # kept from a Camtrap DP import

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        field = super().formfield_for_choice_field(db_field, request, **kwargs)
        if db_field.name == "status":
            drop_choices(field, UNWIRED_DETECTION_STATUSES)
        return field

    def has_add_permission(self, request, *args):
        return False
