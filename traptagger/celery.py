"""The Celery application.

Queues:

* ``default`` - light work: clustering, housekeeping, scheduled jobs;
* ``import``  - survey imports (I/O and JPEG decoding);
* ``gpu``     - detection and species classification (TensorFlow). GPU
  machines run ``celery -A traptagger worker -Q gpu``; on a machine without a
  GPU the same tasks run on the CPU.
"""

import os
import threading

from celery import Celery, signals
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "traptagger.settings")

app = Celery("traptagger")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue("default"), Queue("import"), Queue("gpu")]
app.autodiscover_tasks()

QUEUES = ("default", "import", "gpu")

_discovering = threading.Lock()


def discover_tasks() -> None:
    """Register every installed app's ``tasks`` module in this process (web, command, test).

    Not ``app.loader.import_default_modules()``: that sends Celery's
    ``import_modules`` signal, whose Django fix-up calls ``django.setup()``
    again and runs every system check. ``django.setup()`` re-applies LOGGING,
    and ``dictConfig`` closes every logging handler the process ever made
    (``logging._handlerList``), attached or not, streams included: absl's
    handler (made when TensorFlow is first imported) then closes whatever
    ``sys.stderr`` was at that moment. Under pytest that is the capture file,
    and ``import_survey --now`` killed the run ("lost sys.stderr"). Celery's
    ``autodiscover_tasks(force=True)`` imports the same modules and sends
    nothing. The lock: Celery's discovery returns nothing to a second thread
    that arrives while a first is discovering.
    """
    with _discovering:
        app.autodiscover_tasks(force=True)


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
