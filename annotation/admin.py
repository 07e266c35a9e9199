
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html

from accounts.scoping import OrgScopedInline, OrgScopedModelAdmin
from core.admin_filters import choices_without
from surveys.localtime import camera_time

from .exceptions import AnnotationError
from .forms import TaskAdminForm
from .models import BulkAction, ClusterAnnotation, Label, Task, Translation
from .services.auto_label import do_auto_label, do_save_translations
from .services.task_setup import (
    do_add_labels,
    do_launch_task,
    do_reopen_task,
    do_save_labels_of,
    do_save_task,
)
from .taxonomy import UNWIRED_TASK_STATUSES, TaggingLevel, TaskStatus, hotkey_problem


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
    fields = ["name", "hotkey", "parent", "description", "exclusive"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "parent":  # a parent is one of this task's labels
            task_id = request.resolver_match.kwargs.get("object_id")
            field.queryset = field.queryset.filter(task_id=task_id) if task_id else \
                field.queryset.none()
        return field


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
    form = TaskAdminForm
    list_display = ["name", "survey", "status", "created_at", "tagging_page", "explore"]
    list_filter = [("status", choices_without(*UNWIRED_TASK_STATUSES))]
    search_fields = ["name", "survey__name"]
    autocomplete_fields = ["survey"]
    readonly_fields = ["status", "created_at", "tagging_page", "explore"]
    # batch_size stays hidden until work is handed out in batches.
    fieldsets = [
        (None, {"fields": ["survey", "name", "status", "tagging_page", "explore", "created_at",
                           "tagging_level", "auto_label", "label_people_vehicles"]}),
        ("Add labels from", {"fields": ["label_template", "labels_csv", "copy_labels_from"],
                             "description": "One source at a time; its labels are added to "
                             "the rows below."}),
    ]
    inlines = [LabelInline, TranslationInline]
    actions = ["launch", "reopen", "auto_label_now"]

    @admin.display(description="Tagging page")
    def tagging_page(self, task):
        if task.pk is None:
            return "-"
        if task.status != TaskStatus.LAUNCHED:
            return "not launched"
        return format_html('<a href="{}">open</a>', reverse("tagging_page", args=[task.pk]))

    def get_inlines(self, request, obj):
        # Translations exist once the task does (made from the classifier's classes).
        return self.inlines if obj is not None else [LabelInline]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        tasks = self.get_queryset(request).select_related("survey")
        if obj is not None:
            tasks = tasks.exclude(pk=obj.pk)
        form.base_fields["copy_labels_from"].queryset = tasks
        return form

    def save_model(self, request, obj, form, change):
        do_save_task(obj, acting_user=request.user)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.label_specs:
            try:
                added = do_add_labels(form.instance, form.label_specs, acting_user=request.user)
            except AnnotationError as exc:
                self.message_user(request, f"No labels were added: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{len(added)} label(s) added.", messages.SUCCESS)

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

    @admin.display(description="Clusters")
    def explore(self, task):
        if task.pk is None:
            return "-"
        return format_html('<a href="{}">explore</a>', reverse("annotation:explore",
                                                              args=[task.pk]))

    @admin.action(description="Re-open: let a finished task be launched again (labels kept)")
    def reopen(self, request, queryset):
        for task in queryset.select_related("survey", "survey__organisation"):
            if task.status != TaskStatus.FINISHED:
                self.message_user(request, f"{task} is not finished; nothing to re-open.",
                                  messages.WARNING)
                continue
            try:
                do_reopen_task(task, acting_user=request.user)
            except AnnotationError as exc:
                self.message_user(request, f"{task}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{task} re-opened: launch it when people should "
                                  "label it again.", messages.SUCCESS)

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
    list_display = ["id", "task", "site", "cluster_start", "label_names", "annotator",
                    "labelled_at", "auto_labelled", "ai_check"]
    list_select_related = ["task__survey", "cluster__site", "annotator"]
    list_filter = ["task", "auto_labelled", "ai_check"]
    raw_id_fields = ["cluster"]
    readonly_fields = ["leased_to", "lease_expires_at", "offered_at", "seconds_spent",
                       "auto_labelled", "ai_check", "checked_by", "checked_at", "extra"]
    exclude = ["lease_token"]

    def has_add_permission(self, request, *args):
        return False

    def get_queryset(self, request):
        # Labels in one query for the page, whatever its length (no N+1).
        return super().get_queryset(request).prefetch_related(
            Prefetch("labels", queryset=Label.objects.only("id", "name")))

    @admin.display(description="Site", ordering="cluster__site__name")
    def site(self, annotation):
        return annotation.cluster.site.name

    @admin.display(description="First image (camera's local time)", ordering="cluster__start")
    def cluster_start(self, annotation):
        return camera_time(annotation.cluster.start, annotation.task.survey.timezone)

    @admin.display(description="Labels")
    def label_names(self, annotation):
        names = sorted(label.name for label in annotation.labels.all())
        return ", ".join(names) if names else "not labelled yet"


@admin.register(BulkAction)
class BulkActionAdmin(OrgScopedModelAdmin):
    """The history of bulk labelling (explore page): read only."""

    list_display = ["done_at", "task", "kind", "description", "count", "done_by"]
    list_filter = ["kind"]
    list_select_related = ["task__survey", "done_by"]
    readonly_fields = ["task", "kind", "description", "count", "done_by", "done_at"]

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
