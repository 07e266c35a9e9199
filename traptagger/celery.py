"""The Celery application.

Queues:

* ``default`` - light work: clustering, housekeeping, scheduled jobs;
* ``import``  - survey imports (I/O and JPEG decoding);
* ``gpu``     - detection and species classification (TensorFlow). GPU
  machines run ``celery -A traptagger worker -Q gpu``; on a machine without a
  GPU the same tasks run on the CPU.
"""

import os

from celery import Celery, signals
from kombu import Queue

from core.task_discovery import discover_tasks  # noqa: F401 - the place tests know it by

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "traptagger.settings")

app = Celery("traptagger")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue("default"), Queue("import"), Queue("gpu")]
app.autodiscover_tasks()

QUEUES = ("default", "import", "gpu")

@signals.worker_init.connect
def _check_services(**kwargs):
    """A production worker stops at start, with one line, when a service does not answer."""
    from core.startup import check_or_exit

    check_or_exit("worker")


@signals.task_prerun.connect
def _task_started(**kwargs):
    from core.logs import task_started

    task_started(**kwargs)


@signals.task_postrun.connect
def _task_finished(**kwargs):
    from core.logs import task_finished

    task_finished(**kwargs)
