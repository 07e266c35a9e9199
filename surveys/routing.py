from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/surveys/<int:survey_id>/", consumers.SurveyProgressConsumer.as_asgi()),
]
