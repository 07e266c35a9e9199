from rest_framework import serializers

from accounts.models import Organisation
from accounts.taxonomy import Capability

from ..models import Camera, Cluster, Image, ImportRun, Site, Survey


class SurveySerializer(serializers.ModelSerializer):
    organisation = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.none())

    class Meta:
        model = Survey
        fields = ["id", "organisation", "name", "description", "names_from", "site_regex",
                  "camera_regex", "timezone",
                  "status", "status_detail", "image_count", "cluster_count", "created_at"]
        read_only_fields = ["status", "status_detail", "image_count", "cluster_count",
                            "created_at"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:  # only organisations where the caller may change things
            fields["organisation"].queryset = Organisation.objects.accessible_to(
                request.user, Capability.CHANGE)
        return fields


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "survey", "name", "latitude", "longitude", "altitude"]


class CameraSerializer(serializers.ModelSerializer):
    class Meta:
        model = Camera
        fields = ["id", "site", "path"]


class ImageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Image
        fields = ["id", "camera", "cluster", "filename", "timestamp", "corrected_timestamp",
                  "width", "height", "detected"]


class ClusterSerializer(serializers.ModelSerializer):
    class Meta:
        model = Cluster
        fields = ["id", "survey", "site", "start", "end", "image_count", "suggestion",
                  "suggestion_score"]


class ImportRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportRun
        fields = ["id", "survey", "source", "status", "total", "processed", "imported",
                  "message", "created_at", "finished_at"]
        read_only_fields = ["survey", "status", "total", "processed", "imported", "message",
                            "created_at", "finished_at"]
