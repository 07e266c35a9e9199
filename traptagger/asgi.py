"""ASGI entry point: HTTP to Django, websockets to Channels consumers.

Websockets go through session authentication and an origin check against
ALLOWED_HOSTS.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "traptagger.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from annotation import routing as annotation_routing  # noqa: E402
from core.startup import check_or_exit  # noqa: E402
from surveys import routing as survey_routing  # noqa: E402

check_or_exit("web server")

websocket_urlpatterns = [
    *annotation_routing.websocket_urlpatterns,
    *survey_routing.websocket_urlpatterns,
]

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": AllowedHostsOriginValidator(
        AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
    ),
})
