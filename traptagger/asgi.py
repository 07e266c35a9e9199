"""ASGI entry point: HTTP to Django, websockets to Channels consumers.

Websockets go through session authentication (core.websocket_auth) and an origin
check against ALLOWED_HOSTS.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "traptagger.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from annotation import routing as annotation_routing  # noqa: E402
from core.startup import check_or_exit  # noqa: E402
from core.websocket_auth import AuthMiddlewareStack  # noqa: E402
from surveys import routing as survey_routing  # noqa: E402

check_or_exit("web server")
# Load every URL and view module now rather than on the first request. A first request
# still importing (the API's schema tools, plotting) when the server is told to stop holds
# a worker thread that waits on the stopped event loop, and the process never exits.
get_resolver().url_patterns  # noqa: B018

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
