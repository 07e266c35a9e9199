import os
import random
import socket
from pathlib import Path

import pytest
from django.conf import settings

# ../shared beside the repository; TRAPTAGGER_SHARED points elsewhere (a worktree's checkout).
SHARED = Path(os.environ.get("TRAPTAGGER_SHARED")
              or Path(__file__).resolve().parent.parent.parent / "shared")
CAMERA_TRAPS = SHARED / "data" / "camera-traps"


@pytest.fixture(autouse=True, scope="session")
def _no_broker_in_process():
    """Tasks enqueued by code under test go nowhere unless a test starts a worker."""
    from traptagger.celery import app

    app.conf.broker_url = "memory://"
    app.conf.broker_transport_options = {}
    yield


@pytest.fixture(autouse=True)
def media_storage(settings, tmp_path):
    """Every test writes media to its own folder."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media), "base_url": "/media/"},
        },
    }
    return media


@pytest.fixture(autouse=True)
def _own_cache(settings, request):
    """Each test starts with an empty cache of its own (API rate limits count there)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": request.node.nodeid}}
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _motion_detector(settings):
    """New surveys use the weight-free motion detector, chosen explicitly: the tests' generated
    scenes hold painted animals. Tests of the default detector set SURVEY_DETECTOR back."""
    settings.SURVEY_DETECTOR = "motion"


@pytest.fixture(autouse=True)
def _pillow_limit():
    """Pillow's decompression-bomb limit is process-wide (surveys.services.images sets it from
    settings): a test that lowers it must not leave it lowered for the tests after it."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    yield
    Image.MAX_IMAGE_PIXELS = limit


@pytest.fixture(autouse=True)
def _quiet_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory):
    """A generated survey (3 sites, 4 cameras, 16 bursts of 3 JPEGs) and what it shows."""
    from training.synthetic import write_demo_survey

    root = tmp_path_factory.mktemp("demo-source")
    truth = write_demo_survey(root, width=800, height=600)
    return root, truth


@pytest.fixture(scope="session")
def demo_model_file(tmp_path_factory):
    """The demo classifier's network, trained once per session; its .keras bytes."""
    import keras

    from training.services import demo_classifier

    keras.utils.set_random_seed(3)
    x, y = demo_classifier._dataset(80, 3)
    model = demo_classifier.build_model(len(demo_classifier.SPECIES))
    model.compile(optimizer=keras.optimizers.Adam(0.003),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("model") / "demo.keras"
    model.save(path)
    return path.read_bytes()


@pytest.fixture
def demo_classifier(db, demo_model_file):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from classifiers.models import Classifier
    from training.synthetic import SPECIES

    key = default_storage.save("classifiers/demo.keras", ContentFile(demo_model_file))
    return Classifier.objects.create(name=f"demo-{random.random()}", model_key=key,
                                     classes=list(SPECIES), input_size=64)


def redis_up() -> bool:
    """Whether a Redis answers on 127.0.0.1:6379 (tests that need one skip otherwise)."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(extra: dict | None = None) -> dict:
    """Environment for a child process that must use this test run's database."""
    from django.db import connection

    env = os.environ.copy()
    db = connection.settings_dict
    if "sqlite" in db["ENGINE"]:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        env["DATABASE_URL"] = (
            f"mysql://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}"
            f"/{db['NAME']}"
        )
    env["MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
    env["SURVEY_DETECTOR"] = settings.SURVEY_DETECTOR
    env.update(extra or {})
    return env


def session_cookie(user) -> bytes:
    """A Cookie header value logging ``user`` in, for websocket tests."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def ws_headers(user=None, origin: bytes = b"http://127.0.0.1") -> list:
    headers = [(b"origin", origin)]
    if user is not None:
        headers.append((b"cookie", session_cookie(user)))
    return headers
