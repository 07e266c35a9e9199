from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api.views import ScopedViewSet

from ..models import ClusterAnnotation, Label, Task
from ..services.task_setup import do_launch_task


class TaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = ["id", "survey", "name", "status", "tagging_level", "created_at"]


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "task", "parent", "name", "hotkey", "exclusive"]


class AnnotationSerializer(serializers.ModelSerializer):
    class Meta:
        model = ClusterAnnotation
        fields = ["id", "task", "cluster", "labels", "labelled_at", "note", "auto_labelled",
                  "ai_check", "checked_at"]


class LaunchSerializer(serializers.Serializer):
    added = serializers.IntegerField(help_text="Clusters added to the task.")


class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Annotation tasks of your organisations' surveys; launch one."""

    model, serializer_class, filters = Task, TaskSerializer, {"survey": "survey_id"}

    @extend_schema(request=None, responses={200: LaunchSerializer,
                                            400: OpenApiResponse(description="Not ready")})
    @action(detail=True, methods=["post"])
    def launch(self, request, pk=None):
        """Open the task to annotators (the survey must be ready)."""
        added = do_launch_task(self.get_object(), acting_user=request.user)
        return Response({"added": added})


class LabelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Labels of your tasks, and the special labels every task shares (no task)."""

    model, serializer_class, filters = Label, LabelSerializer, {"task": "task_id"}


class AnnotationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Each cluster's labels in a task: the results, one row per cluster."""

    model, serializer_class = ClusterAnnotation, AnnotationSerializer
    filters = {"task": "task_id", "cluster": "cluster_id"}

    def get_queryset(self):
        return super().get_queryset().prefetch_related("labels")
