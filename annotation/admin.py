from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from accounts.scoping import OrgScopedInline, OrgScopedModelAdmin

from .exceptions import AnnotationError
from .models import ClusterAnnotation, Label, Task
from .services.tasks import do_launch_task


class LabelFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        seen: dict[tuple, str] = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or form.errors or data.get("DELETE") or not data.get("hotkey"):
                continue
            key = (data.get("parent"), data["hotkey"].lower())
            if key in seen:
                raise ValidationError(
                    f"“{data.get('name')}” and “{seen[key]}” share the hotkey “{key[1]}”.")
            seen[key] = data.get("name")


class LabelInline(OrgScopedInline):
    model = Label
    fk_name = "task"
    formset = LabelFormSet
    extra = 3
    fields = ["name", "hotkey", "exclusive"]


@admin.register(Task)
class TaskAdmin(OrgScopedModelAdmin):
    list_display = ["name", "survey", "status", "batch_size", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "survey__name"]
    autocomplete_fields = ["survey"]
    readonly_fields = ["status", "created_at"]
    fields = ["survey", "name", "tagging_level", "batch_size", "status", "created_at"]
    inlines = [LabelInline]
    actions = ["launch"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Launch: open the task to annotators")
    def launch(self, request, queryset):
        for task in queryset.select_related("survey", "survey__organisation"):
            try:
                added = do_launch_task(task, acting_user=request.user)
            except AnnotationError as exc:
                self.message_user(request, f"{task}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{task} launched ({added} clusters).", messages.SUCCESS)


@admin.register(ClusterAnnotation)
class ClusterAnnotationAdmin(OrgScopedModelAdmin):
    list_display = ["id", "task", "cluster", "annotator", "labelled_at"]
    list_filter = ["task"]
    raw_id_fields = ["cluster"]
    readonly_fields = ["leased_to", "lease_expires_at", "offered_at", "seconds_spent"]
    exclude = ["lease_token"]

    def has_add_permission(self, request, *args):
        return False
