from django.contrib import admin

from accounts.scoping import OrgScopedModelAdmin

from .models import Classifier, Detection


@admin.register(Classifier)
class ClassifierAdmin(OrgScopedModelAdmin):
    list_display = ["name", "organisation", "input_size", "threshold", "created_at"]
    search_fields = ["name"]


@admin.register(Detection)
class DetectionAdmin(OrgScopedModelAdmin):
    list_display = ["id", "image", "category", "score", "classification", "status"]
    list_filter = ["category", "status"]
    raw_id_fields = ["image"]

    def has_add_permission(self, request, *args):
        return False
