from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api.views import ScopedViewSet

from ..models import Camera, Cluster, Image, ImportRun, Site, Survey
from ..services.importing import check_remote_source, do_start_import
from ..services.surveys import do_save_survey
from .serializers import (
    CameraSerializer,
    ClusterSerializer,
    ImageSerializer,
    ImportRunSerializer,
    SiteSerializer,
    SurveySerializer,
)


class SurveyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                    mixins.CreateModelMixin, ScopedViewSet):
    """Surveys of your organisations; create one, start an import into it."""

    model = Survey
    serializer_class = SurveySerializer

    def perform_create(self, serializer):
        serializer.instance = do_save_survey(Survey(**serializer.validated_data),
                                             acting_user=self.request.user)

    @extend_schema(request=ImportRunSerializer, responses={201: ImportRunSerializer})
    @action(detail=True, methods=["post"], serializer_class=ImportRunSerializer)
    def imports(self, request, pk=None):
        """Import a folder of your organisation's import area (relative path) into the survey."""
        survey = self.get_object()
        serializer = ImportRunSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        source = check_remote_source(survey, serializer.validated_data["source"])
        run = do_start_import(survey, source, acting_user=request.user)
        return Response(ImportRunSerializer(run).data, status=status.HTTP_201_CREATED)


class _ReadOnly(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    pass


class SiteViewSet(_ReadOnly):
    model, serializer_class, filters = Site, SiteSerializer, {"survey": "survey_id"}


class CameraViewSet(_ReadOnly):
    model, serializer_class = Camera, CameraSerializer
    filters = {"survey": "site__survey_id", "site": "site_id"}


class ImageViewSet(_ReadOnly):
    model, serializer_class = Image, ImageSerializer
    select = ("camera__site__survey",)  # times are shown in the survey's zone
    filters = {"survey": "camera__site__survey_id", "camera": "camera_id",
               "cluster": "cluster_id"}


class ClusterViewSet(_ReadOnly):
    model, serializer_class = Cluster, ClusterSerializer
    select = ("survey",)  # times are shown in the survey's zone
    filters = {"survey": "survey_id", "site": "site_id"}


class ImportRunViewSet(_ReadOnly):
    model, serializer_class, filters = ImportRun, ImportRunSerializer, {"survey": "survey_id"}

