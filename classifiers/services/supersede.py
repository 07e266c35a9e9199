"""One detector's machine boxes at a time on an image: superseding and restoring them.

When a detector's results arrive on an image (``import_detections``, the
detection stage), the machine boxes other detectors left there become
``superseded``: kept, but out of every reader's sight (``Detection.objects``
leaves them out). People's boxes (drawn or corrected: HUMAN_STATUSES) stay
whatever made them. ``do_restore_detections`` makes an earlier detector's boxes
current again, superseding the ones that replaced them.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Q

from accounts.access import check_capability
from accounts.taxonomy import Capability
from surveys.models import Survey

from ..exceptions import ClassifierError
from ..models import Detection
from ..taxonomy import HUMAN_STATUSES

CHUNK = 1000


def machine_boxes():
    """Every machine box, current or superseded (people's boxes left out)."""
    return Detection.all_boxes.exclude(status__in=HUMAN_STATUSES)


def supersede_others(image_ids: list[int], source: str) -> int:
    """Supersede the current machine boxes of sources other than ``source`` on these images.

    Call inside the transaction that stores ``source``'s boxes; returns how many.
    """
    done = 0
    for start in range(0, len(image_ids), CHUNK):
        done += machine_boxes().filter(
            image_id__in=image_ids[start:start + CHUNK], superseded=False).exclude(
            source=source).update(superseded=True)
    return done


def survey_detectors(survey: Survey) -> dict[str, dict[str, int]]:
    """Source → {"current": boxes, "superseded": boxes} of the survey's machine boxes."""
    rows = machine_boxes().filter(image__camera__site__survey=survey).order_by().values(
        "source").annotate(current=Count("id", filter=Q(superseded=False)),
                           superseded=Count("id", filter=Q(superseded=True)))
    return {row["source"]: {"current": row["current"], "superseded": row["superseded"]}
            for row in rows}


def current_detector(detectors: dict[str, dict[str, int]]) -> str | None:
    """The detector whose boxes are current on most of the survey (None without boxes)."""
    current = [(counts["current"], source) for source, counts in detectors.items()
               if counts["current"]]
    return max(current)[1] if current else None


def describe(detectors: dict[str, dict[str, int]]) -> str:
    return "; ".join(f"{source} ({counts['current']} current, {counts['superseded']} "
                     "superseded)" for source, counts in sorted(detectors.items())) or "none"


def do_restore_detections(survey: Survey, source: str, *, acting_user=None) -> dict:
    """Make ``source``'s superseded boxes on ``survey`` current again.

    On each image holding such boxes, the machine boxes of other detectors
    become superseded instead; people's boxes are untouched. In one
    transaction. ``acting_user`` needs CHANGE (None: an operator). Raises
    ClassifierError naming the survey's detectors when ``source`` has no
    superseded boxes there. Returns {"restored": n, "superseded": m, "images": k}.
    """
    if acting_user is not None:
        check_capability(acting_user, survey, Capability.CHANGE)
    mine = machine_boxes().filter(image__camera__site__survey=survey, source=source,
                                  superseded=True)
    with transaction.atomic():
        image_ids = list(mine.order_by().values_list("image_id", flat=True).distinct())
        if not image_ids:
            raise ClassifierError(
                f"Survey “{survey}” has no superseded boxes of the detector {source!r}; its "
                f"detectors: {describe(survey_detectors(survey))}.")
        superseded = supersede_others(image_ids, source)
        restored = 0
        for start in range(0, len(image_ids), CHUNK):
            restored += machine_boxes().filter(
                image_id__in=image_ids[start:start + CHUNK], source=source,
                superseded=True).update(superseded=False)
    return {"restored": restored, "superseded": superseded, "images": len(image_ids)}
