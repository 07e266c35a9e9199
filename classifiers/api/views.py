from rest_framework import mixins, serializers

from accounts.api.views import ScopedViewSet

from ..models import Detection


class DetectionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Detection
        fields = ["id", "image", "left", "top", "right", "bottom", "score", "category",
                  "source", "status", "static", "classification", "classification_score"]


class DetectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Boxes (relative to the image, origin top-left) of your organisations' images."""

    model, serializer_class = Detection, DetectionSerializer
    filters = {"survey": "image__camera__site__survey_id", "image": "image_id"}
