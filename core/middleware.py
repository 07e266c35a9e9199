"""Response headers every page carries, and the page a missing service gets."""

import logging

from django.conf import settings
from django.template.response import TemplateResponse
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)


class ContentSecurityPolicyMiddleware:
    """Sets ``Content-Security-Policy`` (settings.CONTENT_SECURITY_POLICY) on every response.

    The policy allows scripts only from this site: a label or file name that
    slipped through escaping still could not run.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


class ServiceUnavailableMiddleware:
    """Redis or the broker not answering is a 503 page that says so, not a 500.

    The cache runs without Redis (core.cache); other uses cannot, and their request
    is refused with a page that tells people to try again shortly.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (RedisConnectionError, RedisTimeoutError, BrokerError)):
            return None
        log.error("service unavailable on %s: %s", request.path, type(exception).__name__)
        response = TemplateResponse(request, "503.html", status=503)
        response["Retry-After"] = "30"
        return response.render()
