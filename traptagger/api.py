"""The REST API's routes: each app's viewsets under /api/, the schema and its docs."""

from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from annotation.api.views import AnnotationViewSet, LabelViewSet, TaskViewSet
from classifiers.api.views import DetectionViewSet
from results.api.views import ExportViewSet
from surveys.api.views import (
    CameraViewSet,
    ClusterViewSet,
    ImageViewSet,
    ImportRunViewSet,
    SiteViewSet,
    SurveyViewSet,
)

router = DefaultRouter()
for prefix, viewset in (
    ("surveys", SurveyViewSet), ("sites", SiteViewSet), ("cameras", CameraViewSet),
    ("images", ImageViewSet), ("clusters", ClusterViewSet), ("imports", ImportRunViewSet),
    ("detections", DetectionViewSet), ("tasks", TaskViewSet), ("labels", LabelViewSet),
    ("annotations", AnnotationViewSet), ("exports", ExportViewSet),
):
    router.register(prefix, viewset, basename=prefix[:-1])



@csrf_exempt
def not_found(request, rest=""):
    """Any other address under /api/ answers in JSON, as the rest of the API does."""
    return JsonResponse({"detail": "No such API address; see /api/docs/."}, status=404)


urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
    re_path(r"^(?P<rest>[\s\S]*)$", not_found),  # any text, newlines too
]
