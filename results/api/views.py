from django.urls import reverse
from rest_framework import mixins, serializers

from accounts.api.views import ScopedViewSet
from annotation.models import Task
from surveys.models import Survey

from ..models import Export
from ..services.exports import do_request_export
from ..taxonomy import ExportStatus


class ExportSerializer(serializers.ModelSerializer):
    survey = serializers.IntegerField(source="survey_id")
    task = serializers.IntegerField(source="task_id", required=False, allow_null=True)
    download = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = ["id", "survey", "task", "kind", "status", "message", "done", "total",
                  "file_size", "created_at", "finished_at", "expires_at", "download"]
        read_only_fields = ["status", "message", "done", "total", "file_size", "created_at",
                            "finished_at", "expires_at"]

    def get_download(self, export) -> str | None:
        """Where to fetch the file once ready (signed in, or with your token)."""
        if export.status != ExportStatus.DONE or not export.file_key:
            return None
        request = self.context.get("request")
        path = reverse("export_download", args=[export.pk])
        return request.build_absolute_uri(path) if request else path


class ExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                    mixins.CreateModelMixin, ScopedViewSet):
    """Ask for an export (a job a worker runs) and poll it until it has a download link."""

    model, serializer_class, filters = Export, ExportSerializer, {"survey": "survey_id"}

    def perform_create(self, serializer):
        data, user = serializer.validated_data, self.request.user
        survey = self.scoped(Survey, data["survey_id"])
        task_id = data.get("task_id")
        task = self.scoped(Task, task_id) if task_id else None
        serializer.instance = do_request_export(survey, data["kind"], task=task,
                                                acting_user=user)
