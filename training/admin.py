from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.scoping import OrgScopedModelAdmin
from accounts.taxonomy import Capability
from annotation.models import Task
from core.exceptions import UserError
from results.admin import ExportAdmin as ResultsExportAdmin
from results.models import Export
from results.services.exports import do_request_export
from results.taxonomy import ExportKind, ExportStatus

from .forms import TrainingDataForm
from .models import TrainingRun
from .selectors import training_tasks
from .services.training_data import preview
from .services.training_runs import do_request_training
from .taxonomy import TrainingStatus

admin.site.unregister(Export)  # registered by results.admin; extended here


@admin.register(Export)
class ExportAdmin(ResultsExportAdmin):
    """The exports list (results.admin) with what training adds to it: the page that asks for
    training data (“Export training data…”), and the action that trains a classifier on a
    finished training-data export."""

    change_list_template = "admin/training/export/change_list.html"
    actions = ["train_classifier"]

    @admin.action(description="Train a classifier on this training data (gpu worker)")
    def train_classifier(self, request, queryset):
        chosen = list(queryset.filter(kind=ExportKind.TRAINING_DATA, status=ExportStatus.DONE)
                      .values_list("pk", flat=True)[:2])
        if len(chosen) != 1:
            messages.error(request, "Choose one finished training-data export.")
            return None
        return redirect(f"{reverse('admin:training_trainingrun_add')}?export={chosen[0]}")

    def get_urls(self):
        return [path("training-data/", self.admin_site.admin_view(self.training_data_view),
                     name="results_export_training_data"), *super().get_urls()]

    def training_data_view(self, request):
        """Choose tasks and options; “Preview” lists the labels with their counts and what
        they become; “Export” queues the export (the worker makes the zip)."""
        if not self.has_add_permission(request):
            return redirect("admin:index")
        visible = Task.objects.accessible_to(request.user, Capability.VIEW).select_related(
            "survey").order_by("survey__name", "name")
        form = TrainingDataForm(request.POST or None, tasks=visible)
        translation = None
        if request.method == "POST" and form.is_valid():
            try:
                tasks = training_tasks([t.pk for t in form.cleaned_data["tasks"]],
                                       user=request.user, capability=Capability.VIEW)
                if "export" in request.POST:
                    do_request_export(
                        tasks[0].survey, ExportKind.TRAINING_DATA, task=tasks[0],
                        acting_user=request.user,
                        options={"tasks": [t.pk for t in tasks], **form.options().as_dict()})
                    messages.info(request, "The training-data export is queued; this page "
                                  "shows when it is ready.")
                    return redirect("admin:results_export_changelist")
                translation = preview(tasks, form.options())
            except UserError as exc:
                form.add_error(None, str(exc))
        context = {**self.admin_site.each_context(request), "form": form,
                   "translation": translation, "opts": self.model._meta,
                   "title": "Export training data"}
        return TemplateResponse(request, "admin/training/export/training_data.html", context)


@admin.register(TrainingRun)
class TrainingRunAdmin(OrgScopedModelAdmin):
    """Train a classifier on a finished training-data export; a gpu worker does the work."""

    list_display = ["__str__", "export", "status", "progress", "classifier", "accuracy",
                    "created_at"]
    list_filter = ["status"]
    fields = ["export", "name", "version", "epochs", "architecture", "input_size",
              "target_precision", "fine_tune"]
    readonly_fields = ["status", "message", "progress", "classifier", "accuracy",
                       "created_by", "created_at", "finished_at"]

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else [*self.fields, *self.readonly_fields]

    def has_change_permission(self, request, obj=None):
        return False  # a worker trains; people start, follow and delete runs

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "export":
            field.queryset = field.queryset.filter(kind=ExportKind.TRAINING_DATA,
                                                   status=ExportStatus.DONE)
        return field

    @admin.display(description="Epochs")
    def progress(self, obj):
        if obj.status == TrainingStatus.FAILED:
            return obj.message
        return f"{obj.done} / {obj.total}"

    @admin.display(description="Held-out accuracy")
    def accuracy(self, obj):
        summary = (obj.report or {}).get("summary")
        if not summary:
            return "—"
        return (f"{summary['held_out_accuracy']:.1%} (chance {summary['chance_accuracy']:.1%}) "
                f"at {len(summary['held_out_locations'])} location(s)")

    def save_model(self, request, obj, form, change):
        values = {f: form.cleaned_data[f] for f in self.fields if f != "export"}
        try:
            created = do_request_training(obj.export, acting_user=request.user, **values)
        except UserError as exc:
            messages.error(request, str(exc))
            return
        obj.pk = created.pk
        messages.info(request, "Training is queued for a gpu worker; this page shows its "
                      "progress.")
