"""TrapTagger: camera-trap surveys into verified species records."""

import os

# TensorFlow's C++ start-up chatter (CPU features, missing CUDA) is not for users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
