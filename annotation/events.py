"""The tagging page's websocket protocol (``/ws/annotate/<task_id>/``).

Each socket holds a window of clusters leased ahead of need (annotation.consumers):
one for a client that labels one cluster at a time, ANNOTATION_PREFETCH_WINDOW (3–5)
for a page that asks for prefetch. Every cluster in the window is its own lease; the
window is released when the socket closes.

Browser → server
  ``cluster.request``   {prefetch?: true, keep?: [{annotation_id, lease}]}
                        join (or rejoin after a reconnect): the server keeps the leases
                        in ``keep`` still open (the page's shown and queued clusters and
                        those with labels not yet acknowledged), withdraws the others,
                        and fills the window up with ``cluster.offered`` messages
  ``label.submit``      {annotation_id, lease, labels: [id], note, verdict?, seconds?}
                        verdict (AI-check level): accepted | rejected | other
                        (other: ``labels`` are the new labels); seconds: how long the
                        page showed the cluster (queued clusters wait unseen). Answered with
                        ``label.saved`` or ``label.refused``, then the window is topped
                        up: ``cluster.offered``, or ``task.progress`` / ``task.finished``
                        when nothing is left to lease. A refused label's cluster, if its
                        lease was still the page's, goes back to the pool.
  ``heartbeat``         {annotation_id, lease}               keep the window's leases alive

Server → browser
  ``cluster.offered``   {level, annotation_id, lease, cluster_id, site, suggestion,
                         check: null | {labels: [{id, name}], suggested: {id, name}},
                         images: [{id, url, filename, timestamp, local_time,
                                   detections}],
                         progress: {done, total}}
                        one cluster for the page's queue (preload its images); several
                        arrive in a row when the window fills. timestamp: ISO 8601 in
                        the survey's time zone with its offset; local_time: the same as
                        people read it, "2014-07-02 02:55:18 (America/Lima)"
  ``cluster.withdrawn`` {annotation_id, reason}   a kept cluster is no longer the page's
  ``label.saved``       {annotation_id, labels: [id]}
  ``label.refused``     {annotation_id, reason}
  ``task.progress``     {progress}      nothing more to lease; the page still has work
  ``task.finished``     {progress}      nothing more to lease and the window is empty
  ``error``             {message}

Survey progress (``/ws/surveys/<survey_id>/``) carries the messages listed in
surveys.events and classifiers.events.
"""


def cluster_offered(payload: dict, progress: dict) -> dict:
    return {"type": "cluster.offered", **payload, "progress": progress}


def cluster_withdrawn(annotation_id: int, reason: str) -> dict:
    return {"type": "cluster.withdrawn", "annotation_id": annotation_id, "reason": reason}


def label_saved(annotation_id: int, label_ids: list[int]) -> dict:
    return {"type": "label.saved", "annotation_id": annotation_id, "labels": label_ids}


def label_refused(annotation_id, reason: str) -> dict:
    return {"type": "label.refused", "annotation_id": annotation_id, "reason": reason}


def task_progress(progress: dict) -> dict:
    return {"type": "task.progress", "progress": progress}


def task_finished(progress: dict) -> dict:
    return {"type": "task.finished", "progress": progress}


def error(message: str) -> dict:
    return {"type": "error", "message": message}
