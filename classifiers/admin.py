from django import forms
from django.contrib import admin

from accounts.access import is_site_staff
from accounts.scoping import OrgScopedModelAdmin
from core.admin_filters import choices_without, drop_choices
from core.exceptions import UserError

from .models import Classifier, Detection
from .services.registration import (
    ClassifierFiles,
    check_classifier,
    check_thresholds,
    do_register_classifier,
    do_update_classifier,
)
from .taxonomy import UNWIRED_DETECTION_STATUSES


class ClassifierUploadForm(forms.ModelForm):
    """Register a classifier version: the model file, its label index, its thresholds."""

    model_file = forms.FileField(help_text="A Keras file (.keras, .h5) or a zipped TensorFlow "
                                 "SavedModel folder (.zip).")
    label_index = forms.FileField(help_text='label_index.json: {"0": "class name", …}, one '
                                  "name per model output.")
    thresholds_file = forms.FileField(
        required=False, label="Per-class thresholds",
        help_text='Optional: JSON {"class name": 0.7, …} or CSV lines class,threshold.')
    input_size = forms.IntegerField(required=False, min_value=8, max_value=2048,
                                    help_text="Crop side in pixels; empty: the model's own.")

    class Meta:
        model = Classifier
        fields = ["organisation", "name", "version", "region", "description", "preprocessing",
                  "input_size", "threshold"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        files = ClassifierFiles(
            model=_upload(data["model_file"]), label_index=_upload(data["label_index"]),
            thresholds=_upload(data["thresholds_file"]) if data.get("thresholds_file") else None)
        try:
            self.checked = check_classifier(
                files, name=data["name"], version=data["version"],
                organisation=data.get("organisation"), acting_user=self.acting_user,
                input_size=data.get("input_size"), region=data.get("region", ""),
                preprocessing=data["preprocessing"], threshold=data["threshold"],
                description=data.get("description", ""))
        except UserError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data


class ClassifierChangeForm(forms.ModelForm):
    def clean(self):
        data = super().clean()
        if "class_thresholds" in data and "threshold" in data:
            try:
                data["class_thresholds"] = check_thresholds(
                    self.instance, data["class_thresholds"], data["threshold"])
            except UserError as exc:
                raise forms.ValidationError({"class_thresholds": str(exc)}) from exc
        return data


def _upload(file) -> tuple[str, bytes]:
    return file.name, file.read()


@admin.register(Classifier)
class ClassifierAdmin(OrgScopedModelAdmin):
    """Register classifier versions by upload; afterwards only thresholds and notes change."""

    list_display = ["name", "version", "organisation", "region", "class_count", "input_size",
                    "threshold", "created_at"]
    list_filter = ["region"]
    search_fields = ["name", "region"]
    fixed = ["name", "version", "organisation", "classes", "input_size", "preprocessing",
             "model_key", "created_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*ClassifierUploadForm.Meta.fields[:5], "model_file", "label_index",
                    "thresholds_file", *ClassifierUploadForm.Meta.fields[5:]]
        return [*self.fixed, "region", "description", "threshold", "class_thresholds"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.fixed

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = ClassifierUploadForm if obj is None else ClassifierChangeForm
        if obj is None:
            kwargs["fields"] = ClassifierUploadForm.Meta.fields
        form = super().get_form(request, obj, **kwargs)
        form.acting_user = request.user
        if not is_site_staff(request.user) and "organisation" in form.base_fields:
            # Only site staff publish classifiers shared by every organisation.
            form.base_fields["organisation"].required = True
        return form

    @admin.display(description="Classes")
    def class_count(self, obj):
        return len(obj.classes)

    def save_model(self, request, obj, form, change):
        if change:
            do_update_classifier(obj, acting_user=request.user, **{
                name: form.cleaned_data[name] for name in form.changed_data})
            return
        registered = do_register_classifier(form.checked)
        obj.pk, obj.model_key = registered.pk, registered.model_key
        obj.created_at = registered.created_at


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
