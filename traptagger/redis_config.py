"""How the project talks to Redis: connection options for long, quiet waits.

The pinned redis client gives every socket read a 5 s timeout by default,
which is exactly how long channels-redis blocks waiting for a message: a
websocket with nothing to read for 5 s had its channel-layer read time out
and was closed with 1011. Every long-lived Redis connection therefore gets a
read timeout far above the longest blocking wait the project asks for, TCP
keepalive to notice dead peers, and a health check before reusing a
connection that sat idle.
"""

from __future__ import annotations

# channels-redis blocks up to 5 s (RedisChannelLayer.brpop_timeout) per
# receive; kombu's Redis transport up to 1 s.
LONGEST_BLOCKING_WAIT = 5
SOCKET_TIMEOUT = 60  # seconds; must stay well above LONGEST_BLOCKING_WAIT
CONNECTION_OPTIONS = {
    "socket_timeout": SOCKET_TIMEOUT,
    "socket_connect_timeout": 5,
    "socket_keepalive": True,
    "health_check_interval": 30,
}
# Tasks run up to 12 h (the gpu stages' hard limit is 12 h 10 min). Redis
# re-delivers an unacknowledged message after the visibility timeout, so it
# must outlast the longest task or a running stage gets a duplicate delivery.
# Work whose worker died is re-sent sooner by the beat sweep
# (surveys.resume_stale_work).
VISIBILITY_TIMEOUT = 13 * 3600


def channel_layer(url: str, prefix: str) -> dict:
    """The CHANNEL_LAYERS entry for a Redis channel layer at ``url``."""
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": url, **CONNECTION_OPTIONS}],
            "prefix": prefix,
        },
    }


def broker_transport_options() -> dict:
    """Celery's broker transport options for a Redis broker."""
    return {"visibility_timeout": VISIBILITY_TIMEOUT, **CONNECTION_OPTIONS}
