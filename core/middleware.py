"""What every request and response passes: text checks on input and the page a missing
service gets. (The Content-Security-Policy header is django-csp's: settings.py.)"""

import json
import logging
from urllib.parse import unquote_to_bytes

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseBadRequest, JsonResponse
from django.template.response import TemplateResponse
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .text import BadText, check_strings, decode_text

log = logging.getLogger(__name__)


class TextInputMiddleware:
    """Refuses (400, naming the field) a request whose text is not valid UTF-8.

    Checked once here for every view, form, admin page and API endpoint:
    the query string and a url-encoded body must decode as strict UTF-8 (Django
    would silently turn bad bytes into U+FFFD), and every string of a JSON body
    must be text (a ``"\\ud800"`` escape decodes to a lone surrogate, which the
    database driver cannot encode). Multipart bodies are left to Django, which
    decodes their fields and file names with replacement, so that no
    surrogate comes out of them and uploads are not read twice.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            problem = self.check(request)
        except RequestDataTooBig:
            problem = None  # refused where the body is read, as before
        if problem is not None:
            return self.refuse(request, problem)
        return self.get_response(request)

    def check(self, request) -> str | None:
        try:
            _check_urlencoded(request.META.get("QUERY_STRING", ""), "the address")
            kind = request.content_type or ""
            if kind == "application/x-www-form-urlencoded":
                _check_urlencoded(decode_text(request.body, "the form"), "the form")
            elif kind == "application/json" or kind.endswith("+json"):
                _check_json(request.body)
        except BadText as exc:
            return str(exc)
        return None

    @staticmethod
    def refuse(request, message: str):
        if request.path.startswith("/api/") or "json" in (request.content_type or ""):
            return JsonResponse({"detail": message}, status=400)
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def _check_urlencoded(text: str, where: str) -> None:
    for pair in text.split("&"):
        name, _, value = pair.partition("=")
        field = decode_text(unquote_to_bytes(name.replace("+", " ")), f"a field name in {where}")
        decode_text(unquote_to_bytes(value.replace("+", " ")), f"the field {field!r}")


def _check_json(body: bytes) -> None:
    text = decode_text(body, "the request body")
    try:
        content = json.loads(text)
    except (ValueError, RecursionError):
        return  # not JSON: the parser that reads it says so
    check_strings(content, "the request body")


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
