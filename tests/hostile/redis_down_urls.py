"""A page that needs Redis (tests/hostile/test_redis_down.py points it at a closed port)."""

import redis
from django.conf import settings
from django.http import HttpResponse
from django.urls import include, path


def needs_redis(request):
    redis.Redis.from_url(settings.TEST_DEAD_REDIS_URL, socket_connect_timeout=1).ping()
    return HttpResponse("unreachable")


urlpatterns = [path("needs-redis/", needs_redis), path("", include("traptagger.urls"))]
