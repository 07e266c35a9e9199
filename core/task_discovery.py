"""Register every installed app's ``tasks`` module in this process (web, command, test).

Not ``app.loader.import_default_modules()``: that sends Celery's ``import_modules`` signal,
whose Django fix-up calls ``django.setup()`` again and runs every system check.
``django.setup()`` re-applies LOGGING, and ``dictConfig`` closes every logging handler the
process ever made (``logging._handlerList``), attached or not, streams included: absl's
handler (made when TensorFlow is first imported) then closes whatever ``sys.stderr`` was at
that moment. Under pytest that is the capture file, and ``import_survey --now`` killed the
run ("lost sys.stderr"). Celery's ``autodiscover_tasks(force=True)`` imports the same modules
and sends nothing. The lock: Celery's discovery returns nothing to a second thread that
arrives while a first is discovering.
"""

import threading

from celery import current_app

_discovering = threading.Lock()


def discover_tasks() -> None:
    with _discovering:
        current_app.autodiscover_tasks(force=True)
