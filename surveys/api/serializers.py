from rest_framework import serializers

from accounts.models import Organisation
from accounts.taxonomy import Capability

from ..localtime import camera_time_iso
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


class CameraTimesMixin:
    """Camera times in the survey's time zone, ISO 8601 with its offset
    (2014-07-02T02:55:18-05:00), not in the server's zone."""

    time_fields: tuple[str, ...] = ()
    survey_path = ""

    def to_representation(self, instance):
        data = super().to_representation(instance)
        survey = instance
        for step in self.survey_path.split("__"):
            survey = getattr(survey, step)
        for name in self.time_fields:
            data[name] = camera_time_iso(getattr(instance, name), survey.timezone)
        return data


class ImageSerializer(CameraTimesMixin, serializers.ModelSerializer):
    time_fields, survey_path = ("timestamp", "corrected_timestamp"), "camera__site__survey"

    class Meta:
        model = Image
        fields = ["id", "camera", "cluster", "filename", "timestamp", "corrected_timestamp",
                  "width", "height", "detected"]


class ClusterSerializer(CameraTimesMixin, serializers.ModelSerializer):
    time_fields, survey_path = ("start", "end"), "survey"

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
