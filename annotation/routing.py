from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/annotate/<int:task_id>/", consumers.TaggingConsumer.as_asgi()),
]
