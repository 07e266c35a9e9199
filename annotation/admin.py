from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from accounts.scoping import OrgScopedInline, OrgScopedModelAdmin
from core.admin_filters import choices_without

from .exceptions import AnnotationError
from .models import ClusterAnnotation, Label, Task
from .services.task_setup import do_launch_task, do_save_labels_of, do_save_task
from .taxonomy import UNWIRED_TASK_STATUSES, hotkey_problem


class LabelFormSet(BaseInlineFormSet):
    """Checks the hotkey rule across the labels submitted together."""

    def clean(self):
        super().clean()
        taken: dict[tuple, dict[str, str]] = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or form.errors or data.get("DELETE") or not data.get("hotkey"):
                continue
            parent = data.get("parent")
            level = taken.setdefault(parent, {})
            problem = hotkey_problem(data["hotkey"], top_level=parent is None, taken=level,
                                     name=data.get("name"))
            if problem:
                raise ValidationError(problem)
            level[data["hotkey"].lower()] = data.get("name")


class LabelInline(OrgScopedInline):
    model = Label
    fk_name = "task"
    formset = LabelFormSet
    extra = 3
    fields = ["name", "hotkey", "exclusive"]


@admin.register(Task)
class TaskAdmin(OrgScopedModelAdmin):
    list_display = ["name", "survey", "status", "created_at"]
    list_filter = [("status", choices_without(*UNWIRED_TASK_STATUSES))]
    search_fields = ["name", "survey__name"]
    autocomplete_fields = ["survey"]
    readonly_fields = ["status", "created_at"]
    # tagging_level and batch_size stay hidden until the tagging levels are wired.
    fields = ["survey", "name", "status", "created_at"]
    inlines = [LabelInline]
    actions = ["launch"]

    def save_model(self, request, obj, form, change):
        do_save_task(obj, acting_user=request.user)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Label:
            return super().save_formset(request, form, formset, change)
        labels = formset.save(commit=False)
        do_save_labels_of(form.instance, labels, formset.deleted_objects,
                          acting_user=request.user)

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
    readonly_fields = ["leased_to", "lease_expires_at", "offered_at", "seconds_spent", "extra"]
    exclude = ["lease_token"]

    def has_add_permission(self, request, *args):
        return False
