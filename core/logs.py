"""Log lines: JSON in production (one object per line, for log collectors), text otherwise.

Every request and every Celery task writes one line with its id, so that a
failure reported by a user or seen in the admin can be found in the logs.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"
_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "user_id", "task",
           "task_id", "state")

request_logger = logging.getLogger("traptagger.request")
task_logger = logging.getLogger("traptagger.task")


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RequestLogMiddleware:
    """One line per request (id, method, path, status, time); the id goes back as X-Request-ID.

    An id sent by the proxy (X-Request-ID) is kept when it looks like one.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.META.get(REQUEST_ID_HEADER, "")
        request.request_id = sent if 8 <= len(sent) <= 64 and sent.replace("-", "").isalnum() \
            else uuid.uuid4().hex
        started = time.monotonic()
        response = self.get_response(request)
        user = getattr(request, "user", None)
        request_logger.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={"request_id": request.request_id, "method": request.method,
                   "path": request.path, "status": response.status_code,
                   "duration_ms": round((time.monotonic() - started) * 1000, 1),
                   "user_id": user.pk if user is not None and user.is_authenticated else None})
        response["X-Request-ID"] = request.request_id
        return response


_task_started: dict[str, float] = {}


def task_started(task_id=None, task=None, **kwargs) -> None:
    _task_started[task_id] = time.monotonic()


def task_finished(task_id=None, task=None, state=None, **kwargs) -> None:
    started = _task_started.pop(task_id, None)
    task_logger.info(
        "task %s %s %s", getattr(task, "name", "?"), task_id, state,
        extra={"task": getattr(task, "name", "?"), "task_id": task_id, "state": state,
               "duration_ms": round((time.monotonic() - started) * 1000, 1)
               if started is not None else None})
