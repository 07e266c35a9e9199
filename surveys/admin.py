from django.contrib import admin

from accounts.scoping import OrgScopedInline, OrgScopedModelAdmin

from .models import Camera, Cluster, Image, ImportIssue, ImportRun, Site, Survey
from .selectors import import_run_state, survey_state
from .services.surveys import do_save_survey


class SiteInline(OrgScopedInline):
    model = Site
    extra = 0
    fields = ["name", "latitude", "longitude", "altitude"]


@admin.register(Survey)
class SurveyAdmin(OrgScopedModelAdmin):
    list_display = ["name", "organisation", "state", "image_count", "cluster_count", "created_at"]
    list_filter = ["status", "organisation"]
    search_fields = ["name", "description"]
    readonly_fields = ["state", "status_detail", "image_count", "cluster_count", "created_at"]
    # camera_regex, trigger_source and survey_type stay hidden until the import
    # and clustering read them.
    fields = ["organisation", "name", "description", "site_regex", "timezone", "detector",
              "registered_detector", "detection_threshold", "ignore_small_boxes",
              "ignore_top_strip",
              "static_min_count", "static_iou", "static_max_area",
              "classifier", "state", "status_detail", "image_count", "cluster_count",
              "created_at"]
    inlines = [SiteInline]
    change_form_template = "admin/surveys/survey/change_form.html"

    def save_model(self, request, obj, form, change):
        do_save_survey(obj, acting_user=request.user)

    @admin.display(description="status", ordering="status")
    def state(self, obj):
        return survey_state(obj)


@admin.register(Site)
class SiteAdmin(OrgScopedModelAdmin):
    list_display = ["name", "survey", "latitude", "longitude", "country", "region"]
    list_filter = ["survey", "country"]
    search_fields = ["name"]
    readonly_fields = ["external_id"]  # a Camtrap DP import's locationID


@admin.register(Camera)
class CameraAdmin(OrgScopedModelAdmin):
    list_display = ["path", "site"]
    search_fields = ["path"]
    # Kept from a Camtrap DP import for its export; not typed in.
    readonly_fields = ["external_id", "deployment_start", "deployment_end", "camera_model",
                       "extra"]


@admin.register(Image)
class ImageAdmin(OrgScopedModelAdmin):
    list_display = ["filename", "camera", "corrected_timestamp", "cluster"]
    search_fields = ["filename"]
    list_select_related = ["camera"]
    raw_id_fields = ["camera", "cluster"]
    # Facts of the file: set by the import, never typed in (a key names a stored object).
    readonly_fields = ["camera", "filename", "key", "web_key", "content_hash", "timestamp",
                       "width", "height", "file_size", "detected", "external_id",
                       "remote_path", "extra"]

    def has_add_permission(self, request, *args):
        return False  # images come from imports


@admin.register(Cluster)
class ClusterAdmin(OrgScopedModelAdmin):
    list_display = ["id", "site", "start", "image_count", "suggestion"]
    list_select_related = ["site"]
    raw_id_fields = ["site"]
    readonly_fields = ["external_id", "extra"]  # kept from a Camtrap DP import

    def has_add_permission(self, request, *args):
        return False


class ImportIssueInline(OrgScopedInline):
    model = ImportIssue
    extra = 0
    fields = ["path", "reason", "skipped"]
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
