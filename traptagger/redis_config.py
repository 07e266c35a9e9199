"""How the project talks to Redis: connection options for long, quiet waits.

The pinned redis client gives every socket read a 5 s timeout by default,
which is exactly how long channels-redis blocks waiting for a message: a
websocket with nothing to read for 5 s had its channel-layer read time out
and was closed with 1011.

The channel layer therefore reads with no timeout at all. A read timeout
there is worse than useless: the asyncio client wraps each read in a timeout
scope, and a consumer cancelled inside it (its socket closed) could swallow
the cancellation and keep receiving for ever. Dead peers are found by TCP
keepalive (probes after 60 s idle, every 10 s, given up after 3) and a
health check before reusing an idle connection. The Celery broker's
synchronous client keeps a read timeout, far above its 1 s blocking wait.
"""

from __future__ import annotations

import socket

# channels-redis blocks up to 5 s (RedisChannelLayer.brpop_timeout) per
# receive; kombu's Redis transport up to 1 s.
LONGEST_BLOCKING_WAIT = 5
KEEPALIVE = {
    "socket_keepalive": True,
    "socket_keepalive_options": {
        socket.TCP_KEEPIDLE: 60, socket.TCP_KEEPINTVL: 10, socket.TCP_KEEPCNT: 3,
    },
    "socket_connect_timeout": 5,
    "health_check_interval": 30,
}
# redis-py's asyncio pool refuses a command ("Too many connections") once 100 are in use
# at once; a web process with hundreds of sockets joining their groups together needs more.
CHANNEL_LAYER_MAX_CONNECTIONS = 1000
CHANNEL_LAYER_OPTIONS = {"socket_timeout": None, "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
                         **KEEPALIVE}
BROKER_SOCKET_TIMEOUT = 60  # seconds; well above kombu's 1 s blocking read
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
            "hosts": [{"address": url, **CHANNEL_LAYER_OPTIONS}],
            "prefix": prefix,
        },
    }


def broker_transport_options() -> dict:
    """Celery's broker transport options for a Redis broker."""
    return {"visibility_timeout": VISIBILITY_TIMEOUT, "socket_timeout": BROKER_SOCKET_TIMEOUT,
            **KEEPALIVE}
