"""The task admin's form: where a new task's labels come from, besides the inline rows."""

from __future__ import annotations

from django import forms

from .exceptions import AnnotationError
from .models import Task
from .services.label_sets import (
    CSV_COLUMNS,
    LabelSpec,
    labels_of_task,
    read_labels_csv,
    region_templates,
    template_labels,
)

MAX_CSV_BYTES = 1_000_000


class TaskAdminForm(forms.ModelForm):
    """A task, and optionally labels from a region template, a CSV file or another task.

    ``copy_labels_from`` is limited to the tasks the admin may see (set by the
    admin's ``get_form``). The chosen labels are read and checked in ``clean``
    and kept in ``label_specs`` for the admin to add through the service.
    """

    label_template = forms.ChoiceField(
        required=False, label="Labels from a region template",
        choices=lambda: [("", "—"), *((name, name) for name in region_templates())])
    labels_csv = forms.FileField(
        required=False, label="Labels from a CSV file",
        help_text=f"Columns: {','.join(CSV_COLUMNS)} (only name is required; a parent names "
                  "a label on an earlier row).")
    copy_labels_from = forms.ModelChoiceField(
        required=False, queryset=Task.objects.none(), label="Copy the labels of a task")

    class Meta:
        model = Task
        fields = ["survey", "name", "tagging_level", "auto_label", "label_people_vehicles"]

    def clean(self):
        data = super().clean()
        chosen = [name for name in ("label_template", "labels_csv", "copy_labels_from")
                  if data.get(name)]
        if len(chosen) > 1:
            raise forms.ValidationError("Choose one source of labels: a template, a CSV file "
                                        "or another task.")
        self.label_specs: list[LabelSpec] = []
        try:
            if data.get("label_template"):
                self.label_specs = template_labels(data["label_template"])
            elif data.get("labels_csv"):
                upload = data["labels_csv"]
                if upload.size > MAX_CSV_BYTES:
                    raise AnnotationError(f"{upload.name}: larger than {MAX_CSV_BYTES:,} bytes.")
                self.label_specs = read_labels_csv(upload.name, upload.read())
            elif data.get("copy_labels_from"):
                self.label_specs = labels_of_task(data["copy_labels_from"])
        except AnnotationError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data
