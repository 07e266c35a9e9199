from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from accounts.scoping import OrgScopedInline, OrgScopedModelAdmin
from core.admin_filters import choices_without

from .exceptions import AnnotationError
from .models import ClusterAnnotation, Label, Task, Translation
from .services.auto_label import do_auto_label, do_save_translations
from .services.task_setup import do_launch_task, do_save_labels_of, do_save_task
from .taxonomy import UNWIRED_TASK_STATUSES, TaggingLevel, hotkey_problem


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


class TranslationInline(OrgScopedInline):
    """Which task label each classifier class becomes; made by name at launch."""

    model = Translation
    extra = 0
    fields = ["classification", "label", "auto_label"]
    readonly_fields = ["classification"]
    verbose_name_plural = "Translations of the classifier's classes"

    def has_add_permission(self, request, obj=None):
        return False  # one per class, made by do_match_translations

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "label":
            task_id = request.resolver_match.kwargs.get("object_id")
            field.queryset = field.queryset.filter(task_id=task_id)
        return field


@admin.register(Task)
class TaskAdmin(OrgScopedModelAdmin):
    list_display = ["name", "survey", "status", "created_at"]
    list_filter = [("status", choices_without(*UNWIRED_TASK_STATUSES))]
    search_fields = ["name", "survey__name"]
    autocomplete_fields = ["survey"]
    readonly_fields = ["status", "created_at"]
    # batch_size stays hidden until work is handed out in batches.
    fields = ["survey", "name", "status", "created_at", "tagging_level", "auto_label",
              "label_people_vehicles"]
    inlines = [LabelInline, TranslationInline]
    actions = ["launch", "auto_label_now"]

    def get_inlines(self, request, obj):
        # Translations exist once the task does (made from the classifier's classes).
        return self.inlines if obj is not None else [LabelInline]

    def save_model(self, request, obj, form, change):
        do_save_task(obj, acting_user=request.user)

    def save_formset(self, request, form, formset, change):
        if formset.model is Translation:
            do_save_translations(form.instance, formset.save(commit=False),
                                 acting_user=request.user)
            return None
        if formset.model is not Label:
            return super().save_formset(request, form, formset, change)
        labels = formset.save(commit=False)
        do_save_labels_of(form.instance, labels, formset.deleted_objects,
                          acting_user=request.user)

    @admin.action(description="Launch: open the task to annotators at its tagging level")
    def launch(self, request, queryset):
        for task in queryset.select_related("survey", "survey__organisation"):
            try:
                added = do_launch_task(task, acting_user=request.user)
            except AnnotationError as exc:
                self.message_user(request, f"{task}: {exc}", messages.ERROR)
                continue
            if task.tagging_level == TaggingLevel.AI_CHECK:
                self.message_user(request, f"{task} launched for the AI check: {added} "
                                  "cluster(s) whose AI suggestion differs from their label.",
                                  messages.SUCCESS)
            else:
                self.message_user(request, f"{task} launched ({added} clusters).", messages.SUCCESS)

    @admin.action(description="Auto-label: let the AI label open clusters it is sure of")
    def auto_label_now(self, request, queryset):
        for task in queryset.select_related("survey__classifier"):
            try:
                done = do_auto_label(task, acting_user=request.user)
            except AnnotationError as exc:
                self.message_user(request, f"{task}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{task}: {done.species} clusters labelled by "
                                  f"species, {done.people} as people or vehicles.",
                                  messages.SUCCESS)


@admin.register(ClusterAnnotation)
class ClusterAnnotationAdmin(OrgScopedModelAdmin):
    list_display = ["id", "task", "cluster", "annotator", "labelled_at", "auto_labelled",
                    "ai_check"]
    list_filter = ["task", "auto_labelled", "ai_check"]
    raw_id_fields = ["cluster"]
    readonly_fields = ["leased_to", "lease_expires_at", "offered_at", "seconds_spent",
                       "auto_labelled", "ai_check", "checked_by", "checked_at", "extra"]
    exclude = ["lease_token"]

    def has_add_permission(self, request, *args):
        return False
