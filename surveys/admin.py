from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.scoping import OrgScopedInline, OrgScopedModelAdmin
from core.exceptions import UserError

from .localtime import camera_time
from .models import Camera, Cluster, Image, ImportIssue, ImportRun, Site, Survey
from .selectors import duplicate_images, import_run_state, rehash_progress, survey_state
from .services.importing import check_remote_source
from .services.name_preview import preview_names
from .services.rehash import do_start_rehash
from .services.surveys import do_save_survey
from .taxonomy import NamesFrom


class SurveyTimeAdmin(OrgScopedModelAdmin):
    """An admin whose objects carry camera times: its change page shows and takes them in
    the survey's time zone (named in each time field's help), not the server's."""

    survey_path: str  # from the object to its survey, e.g. "site__survey"
    time_fields: tuple[str, ...] = ()

    def survey_zone(self, obj) -> str | None:
        for step in self.survey_path.split("__"):
            obj = getattr(obj, step, None)
        return getattr(obj, "timezone", None)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        obj = self.get_object(request, object_id) if object_id else None
        zone = self.survey_zone(obj) if obj is not None else None
        if zone is None:
            return super().changeform_view(request, object_id, form_url, extra_context)
        with timezone.override(zone):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):
                response.render()
            return response

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        zone = self.survey_zone(obj) if obj is not None else None
        for name in self.time_fields if zone else ():
            if name in form.base_fields:
                form.base_fields[name].help_text = f"The camera's local time ({zone})."
        return form

    def time_help(self, obj, value) -> str:
        return camera_time(value, self.survey_zone(obj))


class NamePreviewForm(forms.Form):
    source = forms.CharField(max_length=1000, help_text="A folder in your organisation's "
                             "import area (relative to it), as for an import.")
    names_from = forms.ChoiceField(choices=NamesFrom.choices, label="Names from")
    site_regex = forms.CharField(max_length=300)
    camera_regex = forms.CharField(max_length=300, required=False)


class SiteInline(OrgScopedInline):
    model = Site
    extra = 0
    fields = ["name", "latitude", "longitude", "altitude"]


@admin.register(Survey)
class SurveyAdmin(OrgScopedModelAdmin):
    list_display = ["name", "organisation", "state", "image_count", "cluster_count", "created_at"]
    list_filter = ["status", "organisation"]
    search_fields = ["name", "description"]
    readonly_fields = ["state", "status_detail", "image_count", "cluster_count", "created_at",
                       "content_hashes"]
    # trigger_source and survey_type stay hidden until the import and clustering read them.
    fields = ["organisation", "name", "description", "names_from", "site_regex",
              "camera_regex", "timezone", "detector",
              "registered_detector", "detection_threshold", "ignore_small_boxes",
              "ignore_top_strip",
              "static_min_count", "static_iou", "static_max_area",
              "classifier", "state", "status_detail", "image_count", "cluster_count",
              "content_hashes", "created_at"]
    inlines = [SiteInline]
    actions = ["rehash"]
    change_form_template = "admin/surveys/survey/change_form.html"

    def save_model(self, request, obj, form, change):
        do_save_survey(obj, acting_user=request.user)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "names_from":
            # A form posted without it (a script, an older page) keeps the survey's rule.
            field.required = False
        return field

    @admin.display(description="status", ordering="status")
    def state(self, obj):
        return survey_state(obj)

    def get_urls(self):
        return [path("<int:survey_id>/names/", self.admin_site.admin_view(self.names_view),
                     name="surveys_survey_names"), *super().get_urls()]

    def names_view(self, request, survey_id):
        """Before importing: the site and physical camera names each rule (folder, file
        name, whole path) gives a sample of a source folder's files, and every file that
        would get no site. Reads file names only."""
        survey = self.get_queryset(request).filter(pk=survey_id).first()
        if survey is None or not self.has_change_permission(request, survey):
            return redirect("admin:index")
        form = NamePreviewForm(request.GET or None, initial={
            "names_from": survey.names_from, "site_regex": survey.site_regex,
            "camera_regex": survey.camera_regex})
        result = None
        if form.is_valid():
            try:
                root = check_remote_source(survey, form.cleaned_data["source"])
                result = preview_names(survey, Path(root),
                                       **{k: form.cleaned_data[k] for k in (
                                           "names_from", "site_regex", "camera_regex")})
            except UserError as exc:
                form.add_error(None, str(exc))
        context = {**self.admin_site.each_context(request), "form": form, "survey": survey,
                   "result": result, "rules": NamesFrom.choices, "opts": self.model._meta,
                   "title": f"Site and camera names: {survey}"}
        return TemplateResponse(request, "admin/surveys/survey/names.html", context)

    @admin.display(description="content hashes")
    def content_hashes(self, obj):
        """Rehash progress and the images that are the same picture (never deleted)."""
        if obj.pk is None:
            return "-"
        total, stale = rehash_progress(obj)
        head = (f"{total - stale} of {total} image(s) have the metadata-blind hash"
                + (f"; {stale} to rehash (action “Rehash images”)." if stale else "."))
        groups = duplicate_images(obj, limit=50)
        if not groups:
            return head + " No duplicates."
        return format_html(
            "{} {} picture(s) stored more than once (nothing deleted):<ul>{}</ul>", head,
            len(groups), format_html_join("", "<li>{}</li>", ((" = ".join(g),) for g in groups)))

    @admin.action(description="Rehash images: metadata-blind content hash, duplicates listed",
                  permissions=["change"])
    def rehash(self, request, queryset):
        for survey in queryset:
            do_start_rehash(survey, acting_user=request.user)
            self.message_user(request, f"{survey}: rehash sent to the import queue; the "
                              "survey page shows its progress and any duplicates.",
                              messages.SUCCESS)


@admin.register(Site)
class SiteAdmin(OrgScopedModelAdmin):
    list_display = ["name", "survey", "latitude", "longitude", "country", "region"]
    list_filter = ["survey", "country"]
    search_fields = ["name"]
    readonly_fields = ["external_id"]  # a Camtrap DP import's locationID


@admin.register(Camera)
class CameraAdmin(SurveyTimeAdmin):
    survey_path = "site__survey"
    list_display = ["path", "site", "physical_camera"]
    search_fields = ["path", "physical_camera"]
    # Kept from a Camtrap DP import for its export; not typed in.
    readonly_fields = ["external_id", "deployment_from", "deployment_to", "camera_model",
                       "extra"]
    exclude = ["deployment_start", "deployment_end"]  # shown in local time, below

    @admin.display(description="deployment start (camera's local time)")
    def deployment_from(self, obj):
        return self.time_help(obj, obj.deployment_start)

    @admin.display(description="deployment end (camera's local time)")
    def deployment_to(self, obj):
        return self.time_help(obj, obj.deployment_end)


@admin.register(Image)
class ImageAdmin(SurveyTimeAdmin):
    list_display = ["filename", "camera", "taken", "cluster"]
    search_fields = ["filename"]
    list_select_related = ["camera__site__survey"]
    survey_path = "camera__site__survey"
    time_fields = ("corrected_timestamp",)
    exclude = ["timestamp"]  # what the camera wrote: shown as camera_wrote, never edited
    raw_id_fields = ["camera", "cluster"]
    # Facts of the file: set by the import, never typed in (a key names a stored object).
    list_filter = ["timestamp_suspect", "timestamp_source"]
    readonly_fields = ["camera", "filename", "key", "web_key", "content_hash", "camera_wrote",
                       "timestamp_source", "timestamp_suspect", "width", "height",
                       "file_size", "detected", "external_id", "remote_path", "extra"]

    def has_add_permission(self, request, *args):
        return False  # images come from imports

    @admin.display(description="taken (camera's local time)", ordering="corrected_timestamp")
    def taken(self, obj):
        return self.time_help(obj, obj.corrected_timestamp)

    @admin.display(description="timestamp (what the camera wrote)")
    def camera_wrote(self, obj):
        return self.time_help(obj, obj.timestamp)


@admin.register(Cluster)
class ClusterAdmin(SurveyTimeAdmin):
    list_display = ["id", "site", "first_image", "image_count", "suggestion"]
    list_select_related = ["site", "survey"]
    survey_path = "survey"
    time_fields = ("start", "end")
    raw_id_fields = ["site"]
    readonly_fields = ["external_id", "extra"]  # kept from a Camtrap DP import

    def has_add_permission(self, request, *args):
        return False

    @admin.display(description="first image (camera's local time)", ordering="start")
    def first_image(self, obj):
        return self.time_help(obj, obj.start)


class ImportIssueInline(OrgScopedInline):
    model = ImportIssue
    extra = 0
    fields = ["path", "reason", "hint", "skipped"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, *args):
        return False


@admin.register(ImportRun)
class ImportRunAdmin(OrgScopedModelAdmin):
    list_display = ["id", "survey", "state", "processed", "total", "imported", "created_at"]
    list_filter = ["status"]
    fields = ["survey", "source", "state", "total", "processed", "imported", "message",
              "created_by", "created_at", "started_at", "heartbeat_at", "finished_at"]
    readonly_fields = fields
    inlines = [ImportIssueInline]

    @admin.display(description="status", ordering="status")
    def state(self, obj):
        return import_run_state(obj)

    def has_add_permission(self, request, *args):
        return False  # imports start from import_survey (browser uploads come later)
