"""The task admin's form: where a new task's labels come from, besides the inline rows."""

from __future__ import annotations

from django import forms

from core.forms import DateRangeForm

from .exceptions import AnnotationError
from .explore import STATES, ExploreFilters
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


class ExploreForm(DateRangeForm):
    """The explore page's filters (GET), checked into ``explore.ExploreFilters``."""

    field_order = ["site", "camera", "since", "until", "label", "suggestion", "min_score",
                   "max_score", "state"]

    site = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    camera = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    label = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    suggestion = forms.ChoiceField(required=False, label="AI class")
    min_score = forms.FloatField(required=False, min_value=0, max_value=1,
                                 label="AI confidence from",
                                 widget=forms.NumberInput(attrs={"step": "0.01"}))
    max_score = forms.FloatField(required=False, min_value=0, max_value=1, label="to",
                                 widget=forms.NumberInput(attrs={"step": "0.01"}))
    state = forms.ChoiceField(required=False, label="Labelled")

    def __init__(self, data, *, choices: dict):
        super().__init__(data)
        self.fields["site"].choices = [("", "all sites"), *choices["sites"]]
        self.fields["camera"].choices = [("", "all cameras"), *choices["cameras"]]
        self.fields["label"].choices = [("", "any label"), *choices["labels"]]
        self.fields["suggestion"].choices = [("", "any AI class"), *choices["suggestions"]]
        self.fields["state"].choices = list(STATES.items())

    def filters(self):
        """The checked filters (the whole task while the form has errors)."""
        if not self.is_valid():
            return ExploreFilters()
        d = self.cleaned_data
        return ExploreFilters(site_id=d["site"], camera_id=d["camera"], since=d["since"],
                              until=d["until"], label_id=d["label"],
                              suggestion=d["suggestion"] or "", min_score=d["min_score"],
                              max_score=d["max_score"], state=d["state"] or "")


class AcceptForm(forms.Form):
    """Accept every AI suggestion of one class above a confidence (bulk action)."""

    suggestion = forms.CharField(max_length=100, label="AI class")
    min_score = forms.FloatField(min_value=0, max_value=1, label="Confidence at least",
                                 widget=forms.NumberInput(attrs={"step": "0.01"}))


class RelabelForm(forms.Form):
    """Give the selected clusters these labels (bulk action)."""

    annotations = forms.TypedMultipleChoiceField(coerce=int, choices=(), required=True)
    labels = forms.TypedMultipleChoiceField(coerce=int, choices=(), required=True)

    def __init__(self, data, *, labels: list[tuple[int, str]]):
        super().__init__(data)
        self.fields["labels"].choices = labels
        # Any id is accepted here; the service refuses ids of another task.
        self.fields["annotations"].valid_value = lambda value: True
