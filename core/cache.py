"""The cache runs without Redis rather than failing the request.

Everything in the cache is an optimisation or a soft limit: drawn plots (insights), the
API's per-token request counts (DRF throttling) and allauth's rate limits. With Redis down
each of those used to raise, and every log-in and API call was a 500. ``ResilientRedisCache``
is Django's RedisCache whose operations answer "nothing cached" when Redis does not
(``get`` gives the default, writes are dropped) and log it once per outage; after a
failure it does not try Redis again for CACHE_RETRY_SECONDS, so a Redis that hangs
costs one connect timeout, not one per cache call. Failed log-ins are counted in the
database (django-axes), not here, so lockout keeps working. ``/healthz`` still reports
the cache as down (``ping``).
"""

from __future__ import annotations

import functools
import logging
import time

from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_down_until = 0.0  # monotonic time before which Redis is not tried again (per process)


def _retry_seconds() -> float:
    return float(getattr(settings, "CACHE_RETRY_SECONDS", 10))


def _degrade(fallback):
    """Run the cache operation; on a Redis error give ``fallback(*args)`` instead."""

    def wrap(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            global _down_until
            if time.monotonic() < _down_until:
                return fallback(*args, **kwargs)
            try:
                return method(self, *args, **kwargs)
            except RedisError as exc:
                _down_until = time.monotonic() + _retry_seconds()
                log.warning("cache (Redis) not answering (%s): running without it; "
                            "retrying in %g s (CACHE_RETRY_SECONDS)",
                            type(exc).__name__, _retry_seconds())
                return fallback(*args, **kwargs)

        return wrapper

    return wrap


def _default(key, default=None, *args, **kwargs):
    return default


def _false(*args, **kwargs):
    return False


def _none(*args, **kwargs):
    return None


class ResilientRedisCache(RedisCache):
    """Django's RedisCache that degrades to "nothing cached" while Redis is down."""

    get = _degrade(_default)(RedisCache.get)
    # "Added": allauth's rate limits take a lock with add() and refuse (429) without it.
    add = _degrade(lambda *a, **k: True)(RedisCache.add)
    set = _degrade(_none)(RedisCache.set)
    touch = _degrade(_false)(RedisCache.touch)
    delete = _degrade(_false)(RedisCache.delete)
    has_key = _degrade(_false)(RedisCache.has_key)
    get_many = _degrade(lambda keys, *a, **k: {})(RedisCache.get_many)
    set_many = _degrade(lambda data, *a, **k: list(data))(RedisCache.set_many)
    delete_many = _degrade(_none)(RedisCache.delete_many)
    incr = _degrade(lambda key, delta=1, *a, **k: delta)(RedisCache.incr)
    clear = _degrade(_false)(RedisCache.clear)

    def ping(self) -> None:
        """Raise unless Redis answers now (the health check; never degraded)."""
        self._cache.get_client(write=True).ping()
