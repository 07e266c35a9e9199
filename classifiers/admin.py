from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts.access import is_site_staff
from accounts.scoping import OrgScopedModelAdmin
from core.admin_filters import choices_without, drop_choices
from core.exceptions import UserError
from surveys.models import Camera

from .models import Classifier, Detection, Detector, Mask, StaticGroup
from .selectors import EXAMPLES, camera_example_image, static_group_example
from .services.geofence import check_ranges, read_range_table
from .services.masks import do_delete_mask, do_save_mask
from .services.registration import (
    ClassifierFiles,
    DetectorFiles,
    check_classifier,
    check_detector,
    check_thresholds,
    do_register_classifier,
    do_register_detector,
    do_update_classifier,
    do_update_detector,
)
from .services.static import crop_jpeg, do_decide_static_groups
from .taxonomy import UNWIRED_DETECTION_STATUSES, DetectorInput, Fill, Placement, StaticStatus
from .widgets import PolygonWidget


class UploadForm(forms.ModelForm):
    """A registration form: ``clean()`` runs the service's check; ``checked`` holds its result."""

    def check(self, data):
        raise NotImplementedError

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.checked = self.check(data)
        except UserError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data


class ClassifierUploadForm(UploadForm):
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

    def check(self, data):
        files = ClassifierFiles(
            model=_upload(data["model_file"]), label_index=_upload(data["label_index"]),
            thresholds=_upload(data["thresholds_file"]) if data.get("thresholds_file") else None)
        return check_classifier(
            files, name=data["name"], version=data["version"],
            organisation=data.get("organisation"), acting_user=self.acting_user,
            input_size=data.get("input_size"), region=data.get("region", ""),
            preprocessing=data["preprocessing"], threshold=data["threshold"],
            description=data.get("description", ""))


class ClassifierChangeForm(forms.ModelForm):
    range_table = forms.FileField(
        required=False, label="Upload a range table",
        help_text="CSV with the header class,countries[,parent] (countries: ISO 3166 codes "
        "separated by spaces or semicolons); replaces the species ranges above.")

    def clean(self):
        data = super().clean()
        try:
            if "class_thresholds" in data and "threshold" in data:
                data["class_thresholds"] = check_thresholds(
                    self.instance, data["class_thresholds"], data["threshold"])
            if data.get("range_table"):
                upload = data["range_table"]
                data["species_ranges"] = read_range_table(upload.name, upload.read(),
                                                          self.instance.classes)
                self.changed_data.append("species_ranges")
            elif "species_ranges" in data:
                data["species_ranges"] = check_ranges(data["species_ranges"],
                                                      self.instance.classes)
        except UserError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data


class DetectorUploadForm(UploadForm):
    """Register a detector version: the model file and its category map."""

    model_file = forms.FileField(help_text="A Keras file (.keras, .h5), a zipped TensorFlow "
                                 "SavedModel folder (.zip), an ONNX file (.onnx) or a frozen "
                                 "TensorFlow graph (.pb) giving what its output format says.")
    category_map_file = forms.FileField(
        label="Category map", help_text='JSON {"0": "animal", "1": "person", "2": "vehicle"}: '
        "the model's class numbers; boxes of classes left out are dropped.")
    input_size = forms.IntegerField(required=False, min_value=8, max_value=4096,
                                    help_text="Side images are letterboxed to; empty: the "
                                    "model's own.")
    # Optional: a form posted without them gets the model's defaults (web, centred, grey).
    input_source = forms.ChoiceField(choices=DetectorInput.choices, required=False,
                                     help_text="Which copy of each photo the model reads.")
    placement = forms.ChoiceField(choices=Placement.choices, required=False,
                                  help_text="Where the photo sits in the model's square input.")
    fill = forms.ChoiceField(choices=Fill.choices, required=False,
                             help_text="What fills the rest of the square.")

    class Meta:
        model = Detector
        fields = ["organisation", "name", "version", "description", "input_size",
                  "output_format", "box_order",
                  "preprocessing", "input_source", "placement", "fill", "threshold", "nms_iou"]

    def check(self, data):
        files = DetectorFiles(model=_upload(data["model_file"]),
                              category_map=_upload(data["category_map_file"]))
        return check_detector(
            files, name=data["name"], version=data["version"],
            organisation=data.get("organisation"), acting_user=self.acting_user,
            input_size=data.get("input_size"), output_format=data["output_format"],
            box_order=data["box_order"],
            preprocessing=data["preprocessing"], threshold=data["threshold"],
            nms_iou=data["nms_iou"], description=data.get("description", ""),
            input_source=data.get("input_source") or DetectorInput.WEB,
            placement=data.get("placement") or Placement.CENTRED,
            fill=data.get("fill") or Fill.GREY)


def _upload(file) -> tuple[str, bytes]:
    return file.name, file.read()


class RegisteredModelAdmin(OrgScopedModelAdmin):
    """Versions registered by upload (``register``); afterwards only ``editable`` fields change."""

    upload_form: type[UploadForm]
    upload_fields: list[str]
    change_form: type[forms.ModelForm] = forms.ModelForm
    fixed: list[str]
    editable: list[str]
    register = update = None  # the services: do_register_*, do_update_*

    def get_fields(self, request, obj=None):
        return self.upload_fields if obj is None else [*self.fixed, *self.editable]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.fixed

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = self.upload_form if obj is None else self.change_form
        if obj is None:
            kwargs["fields"] = self.upload_form.Meta.fields
        form = super().get_form(request, obj, **kwargs)
        form.acting_user = request.user
        if not is_site_staff(request.user) and "organisation" in form.base_fields:
            # Only site staff publish models shared by every organisation.
            form.base_fields["organisation"].required = True
        return form

    def save_model(self, request, obj, form, change):
        if change:
            fields = {field.name for field in obj._meta.fields}
            self.update(obj, acting_user=request.user, **{
                name: form.cleaned_data[name] for name in form.changed_data if name in fields})
            return
        registered = self.register(form.checked)
        obj.pk, obj.model_key = registered.pk, registered.model_key
        obj.created_at = registered.created_at


@admin.register(Classifier)
class ClassifierAdmin(RegisteredModelAdmin):
    """Register classifier versions by upload; afterwards only thresholds, ranges, notes change."""

    list_display = ["name", "version", "organisation", "region", "class_count", "geofence",
                    "input_size", "threshold", "created_at"]
    list_filter = ["region"]
    search_fields = ["name", "region"]
    upload_form, change_form = ClassifierUploadForm, ClassifierChangeForm
    upload_fields = [*ClassifierUploadForm.Meta.fields[:5], "model_file", "label_index",
                     "thresholds_file", *ClassifierUploadForm.Meta.fields[5:]]
    fixed = ["name", "version", "organisation", "classes", "input_size", "preprocessing",
             "model_key", "created_at"]
    editable = ["region", "description", "threshold", "class_thresholds", "geofence",
                "species_ranges", "range_table"]
    register, update = staticmethod(do_register_classifier), staticmethod(do_update_classifier)

    @admin.display(description="Classes")
    def class_count(self, obj):
        return len(obj.classes)


@admin.register(Detector)
class DetectorAdmin(RegisteredModelAdmin):
    """Register detectors from model files; the weight-free ones (motion, whole) need none."""

    list_display = ["name", "version", "organisation", "output_format", "input_size",
                    "threshold", "nms_iou", "created_at"]
    search_fields = ["name"]
    upload_form = DetectorUploadForm
    upload_fields = [*DetectorUploadForm.Meta.fields[:4], "model_file", "category_map_file",
                     *DetectorUploadForm.Meta.fields[4:]]
    fixed = ["name", "version", "organisation", "output_format", "input_size", "box_order",
             "preprocessing", "input_source", "placement", "fill", "category_map", "model_key",
             "created_at"]
    editable = ["description", "threshold", "nms_iou"]
    register, update = staticmethod(do_register_detector), staticmethod(do_update_detector)


@admin.register(Detection)
class DetectionAdmin(OrgScopedModelAdmin):
    list_display = ["id", "image", "category", "score", "classification", "status", "static"]
    list_filter = ["category", ("status", choices_without(*UNWIRED_DETECTION_STATUSES)),
                   "static"]
    raw_id_fields = ["image"]
    # ``static`` follows the box's static group (decided under Static groups).
    readonly_fields = ["extra", "static", "static_group"]  # extra: kept from Camtrap DP

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        field = super().formfield_for_choice_field(db_field, request, **kwargs)
        if db_field.name == "status":
            drop_choices(field, UNWIRED_DETECTION_STATUSES)
        return field

    def has_add_permission(self, request, *args):
        return False


def _examples(obj, count: int) -> str:
    urls = [reverse("admin:classifiers_staticgroup_crop", args=[obj.pk, n])
            for n in range(min(count, obj.image_count))]
    return format_html_join(" ", '<img src="{}" alt="example" loading="lazy" height="{}">',
                            ((url, 80 if count < EXAMPLES else 160) for url in urls))


@admin.register(StaticGroup)
class StaticGroupAdmin(OrgScopedModelAdmin):
    list_display = ["id", "location", "image_count", "status", "examples"]
    list_filter = ["status"]
    list_select_related = ["camera__site__survey"]
    search_fields = ["camera__path", "camera__site__name", "camera__site__survey__name"]
    fields = ["location", "box", "image_count", "status", "remembered_from", "decided_by",
              "decided_at", "large_examples"]
    readonly_fields = fields
    actions = ["accept", "reject"]

    def has_add_permission(self, request, *args):
        return False  # found by the static-detection search

    def has_delete_permission(self, request, obj=None):
        return False  # the search would find it again: reject it instead

    @admin.display(description="survey / site / camera")
    def location(self, obj):
        camera = obj.camera
        return f"{camera.site.survey.name} / {camera.site.name} / {camera.path}"

    @admin.display(description="box (left, top, right, bottom)")
    def box(self, obj):
        return ", ".join(f"{v:.3f}" for v in obj.box)

    @admin.display(description="examples")
    def examples(self, obj):
        return _examples(obj, 3)

    @admin.display(description="examples")
    def large_examples(self, obj):
        return _examples(obj, EXAMPLES)

    @admin.action(description="Accept: static, not an animal (stops counting)",
                  permissions=["change"])
    def accept(self, request, queryset):
        self._decide(request, queryset, StaticStatus.ACCEPTED)

    @admin.action(description="Reject: not static (keeps counting)", permissions=["change"])
    def reject(self, request, queryset):
        self._decide(request, queryset, StaticStatus.REJECTED)

    def _decide(self, request, queryset, decision):
        try:
            changed = do_decide_static_groups(queryset.values_list("pk", flat=True), decision,
                                              acting_user=request.user)
        except UserError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"{changed} group(s) marked “{decision.label}”.")

    def get_urls(self):
        crop = self.admin_site.admin_view(self.crop_view)
        return [path("<int:group_id>/crop/<int:number>/", crop,
                     name="classifiers_staticgroup_crop"), *super().get_urls()]

    def crop_view(self, request, group_id: int, number: int):
        """One example crop of a group the user may see; 404 for anyone else's."""
        group = self.get_queryset(request).filter(pk=group_id).first()
        example = static_group_example(group, number) if group is not None else None
        data = crop_jpeg(example) if example is not None else None
        if data is None:
            raise Http404("No such example.")
        return HttpResponse(data, content_type="image/jpeg",
                            headers={"Cache-Control": "private, max-age=3600"})


class MaskForm(forms.ModelForm):
    class Meta:
        model = Mask
        fields = ["camera", "name", "polygon"]


@admin.register(Mask)
class MaskAdmin(OrgScopedModelAdmin):
    form = MaskForm
    list_display = ["__str__", "camera", "corners", "created_at"]
    list_select_related = ["camera__site__survey"]
    search_fields = ["name", "camera__path", "camera__site__name"]

    @admin.display(description="corners")
    def corners(self, obj):
        return len(obj.polygon or [])

    def get_form(self, request, obj=None, **kwargs):
        url = reverse("admin:classifiers_mask_camera_image", args=[0])
        kwargs["widgets"] = {"polygon": PolygonWidget(
            image_url=url, camera_id=obj.camera_id if obj else None)}
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        counts = do_save_mask(obj, acting_user=request.user)
        self.message_user(request, format_html(
            "{} box(es) masked, {} un-masked.", counts["masked"], counts["unmasked"]))

    def delete_model(self, request, obj):
        do_delete_mask(obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for mask in queryset.select_related("camera"):  # a camera has few masks
            do_delete_mask(mask, acting_user=request.user)

    def get_urls(self):
        view = self.admin_site.admin_view(self.camera_image_view)
        return [path("camera/<int:camera_id>/image/", view,
                     name="classifiers_mask_camera_image"), *super().get_urls()]

    def camera_image_view(self, request, camera_id: int):
        """An example image of a camera the user may see (the members' image view)."""
        camera = Camera.objects.of_organisations(self.viewable_org_ids(request)).filter(
            pk=camera_id).first()
        image = camera_example_image(camera) if camera is not None else None
        if image is None:
            raise Http404("No image of this camera.")
        return HttpResponseRedirect(reverse("image_file", args=[image.pk, "web"]))
