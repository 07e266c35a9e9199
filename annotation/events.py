"""The tagging page's websocket protocol (``/ws/annotate/<task_id>/``).

Browser → server
  ``cluster.request``   {}                                   ask for a cluster
  ``label.submit``      {annotation_id, lease, labels: [id], note, verdict?}
                        verdict (AI-check level): accepted | rejected | other
                        (other: ``labels`` are the new labels)
  ``heartbeat``         {annotation_id, lease}               keep the lease alive

Server → browser
  ``cluster.offered``   {level, annotation_id, lease, cluster_id, site, suggestion,
                         check: null | {labels: [{id, name}], suggested: {id, name}},
                         images: [{id, url, filename, timestamp, detections}],
                         progress: {done, total}}
  ``label.saved``       {annotation_id, labels: [id]}
  ``label.refused``     {annotation_id, reason}
  ``task.finished``     {progress}
  ``error``             {message}

Survey progress (``/ws/surveys/<survey_id>/``) carries the messages listed in
surveys.events and classifiers.events.
"""


def cluster_offered(payload: dict, progress: dict) -> dict:
    return {"type": "cluster.offered", **payload, "progress": progress}


def label_saved(annotation_id: int, label_ids: list[int]) -> dict:
    return {"type": "label.saved", "annotation_id": annotation_id, "labels": label_ids}


def label_refused(annotation_id, reason: str) -> dict:
    return {"type": "label.refused", "annotation_id": annotation_id, "reason": reason}


def task_finished(progress: dict) -> dict:
    return {"type": "task.finished", "progress": progress}


def error(message: str) -> dict:
    return {"type": "error", "message": message}
