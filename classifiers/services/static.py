"""Static detections: boxes that recur at one camera (rocks, branches, posts).

Per camera, the survey's active boxes are grouped by overlap
(services.grouping); a group recurring on at least ``Survey.static_min_count``
images is offered to a person as a StaticGroup. Accepting it makes its boxes
static (they stop counting: classifiers.selectors.relevance); rejecting keeps
them counted. Decisions are remembered for the camera's location: a later
survey's camera at the same site name and folder takes over the decision of a
decided group with the same box (IoU at least the survey's ``static_iou``).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable

import numpy as np
from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from accounts.access import check_capability
from accounts.taxonomy import Capability
from core.exceptions import AccessDenied
from core.progress import Progress, ignore_progress
from surveys.models import Camera, Survey
from surveys.selectors import image_file_key
from surveys.taxonomy import SurveyStatus

from ..exceptions import ClassifierError
from ..geometry import iou
from ..models import Detection, StaticGroup
from ..selectors import same_location_cameras
from ..taxonomy import DECIDED_STATIC_STATUSES, DetectionStatus, StaticStatus
from . import masks
from .classification import suggest_cluster_species
from .detection import load_web_image
from .grouping import group_boxes

CHUNK = 2000  # ids per UPDATE ... WHERE id IN (...)
CROP_SIZE = 160  # px, the side of an example crop


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


# --- searching ------------------------------------------------------------------------
def do_find_static_detections(survey: Survey, *, progress: Progress = ignore_progress,
                              acting_user=None) -> dict:
    """Apply the masks, then find static groups at each camera of ``survey``; return counts.

    Safe to re-run: pending groups are found again (the same ones when the
    boxes have not changed); decided groups stay, and new boxes matching one
    join it. ``acting_user`` needs CHANGE (None: the pipeline or an operator).
    ``progress(done, total)`` counts cameras. Each camera is one transaction.
    """
    if acting_user is not None:
        check_capability(acting_user, survey, Capability.CHANGE)
    cameras = list(Camera.objects.filter(site__survey=survey).select_related(
        "site__survey").order_by("id"))
    totals: Counter = Counter()
    for n, camera in enumerate(cameras, start=1):
        with transaction.atomic():
            totals.update(masks.apply_masks(camera))
            totals.update(find_static_at_camera(camera))
        progress(n, len(cameras))
    return {key: totals[key] for key in ("masked", "unmasked", "pending_groups",
                                         "remembered_groups", "static_boxes", "joined_boxes")}


def _known_groups(camera: Camera, iou_min: float) -> list[StaticGroup]:
    """Decided groups at the camera's location: its own first, then the newest elsewhere.

    A group elsewhere whose box matches one already listed is left out (the
    camera's own decision, or a later survey's, wins).
    """
    rows = StaticGroup.objects.filter(
        camera__in=same_location_cameras(camera), status__in=DECIDED_STATIC_STATUSES,
    ).annotate(own=Case(When(camera=camera, then=Value(0)), default=Value(1),
                        output_field=IntegerField())).order_by("own", "-id")
    known: list[StaticGroup] = []
    for group in rows:
        if group.camera_id == camera.pk or all(iou(group.box, k.box) < iou_min for k in known):
            known.append(group)
    return known


def find_static_at_camera(camera: Camera) -> Counter:
    """Group the camera's ungrouped active boxes; record groups; return counts.

    Runs inside the caller's transaction. Pending groups of the camera are
    dropped and found again.
    """
    survey = camera.site.survey
    pending = StaticGroup.objects.filter(camera=camera, status=StaticStatus.PENDING)
    Detection.objects.filter(static_group__in=pending).update(static_group=None, static=False)
    pending.delete()
    known = _known_groups(camera, survey.static_iou)
    rows = list(Detection.objects.filter(
        image__camera=camera, status=DetectionStatus.ACTIVE, static_group__isnull=True,
    ).order_by("id").values_list("id", "image_id", "left", "top", "right", "bottom"))
    found = group_boxes([row[2:] for row in rows], iou_min=survey.static_iou,
                        max_area=survey.static_max_area, seeds=[k.box for k in known])
    counts: Counter = Counter()
    for seed, positions in found:
        ids = [rows[p][0] for p in positions]
        if seed is not None and known[seed].camera_id == camera.pk:
            _add_members(known[seed], ids)
            _recount(known[seed])
            counts["joined_boxes"] += len(ids)
            continue
        images = {rows[p][1] for p in positions}
        if len(images) < survey.static_min_count:
            continue
        group = _new_group(camera, [rows[p][2:] for p in positions], len(images),
                           known[seed] if seed is not None else None)
        _add_members(group, ids)
        counts["remembered_groups" if seed is not None else "pending_groups"] += 1
    counts["static_boxes"] = Detection.objects.filter(image__camera=camera, static=True).count()
    return counts


def _new_group(camera: Camera, boxes: list, image_count: int,
               remembered: StaticGroup | None) -> StaticGroup:
    left, top, right, bottom = (round(float(v), 4) for v in np.median(np.array(boxes), axis=0))
    group = StaticGroup(camera=camera, left=left, top=top, right=right, bottom=bottom,
                        image_count=image_count)
    if remembered is not None:
        group.status, group.remembered_from = remembered.status, remembered
        group.decided_at = timezone.now()
    group.save()
    return group


def _add_members(group: StaticGroup, ids: list[int]) -> None:
    static = group.status == StaticStatus.ACCEPTED
    for chunk in _chunks(ids):
        Detection.objects.filter(id__in=chunk).update(static_group=group, static=static)


def _recount(group: StaticGroup) -> None:
    group.image_count = Detection.objects.filter(static_group=group).values(
        "image_id").distinct().count()
    group.save(update_fields=["image_count"])


# --- deciding ---------------------------------------------------------------------------
def do_decide_static_groups(group_ids: Iterable[int], decision: str, *,
                            acting_user=None) -> int:
    """Accept (boxes become static) or reject (boxes count) the groups; return how many.

    ``acting_user`` needs CHANGE on every group's survey, else AccessDenied and
    nothing changes (None: an operator). In one transaction; then the cluster
    suggestions of ready surveys with a classifier are worked out again, since
    static boxes do not vote.
    """
    if decision not in DECIDED_STATIC_STATUSES:
        raise ClassifierError(f"{decision!r} is not a decision; accept or reject the group.")
    ids = sorted(set(group_ids))
    groups = StaticGroup.objects.filter(pk__in=ids)
    if acting_user is not None and groups.accessible_to(
            acting_user, Capability.CHANGE).count() != len(ids):
        raise AccessDenied("You may not decide on static groups of an organisation where "
                           "your role does not allow changes.")
    with transaction.atomic():
        changed = groups.update(status=decision, decided_by=acting_user,
                                decided_at=timezone.now())
        for chunk in _chunks(ids):
            Detection.objects.filter(static_group_id__in=chunk).update(
                static=decision == StaticStatus.ACCEPTED)
        surveys = Survey.objects.filter(
            sites__cameras__static_groups__in=ids, status=SurveyStatus.READY,
            classifier__isnull=False).distinct().select_related("classifier")
        for survey in surveys:
            suggest_cluster_species(survey, survey.classifier)
    return changed


def do_accept_static_group(group: StaticGroup, *, acting_user=None) -> int:
    """Accept one group: its boxes become static (see ``do_decide_static_groups``)."""
    return do_decide_static_groups([group.pk], StaticStatus.ACCEPTED, acting_user=acting_user)


def do_reject_static_group(group: StaticGroup, *, acting_user=None) -> int:
    """Reject one group: its boxes count again (see ``do_decide_static_groups``)."""
    return do_decide_static_groups([group.pk], StaticStatus.REJECTED, acting_user=acting_user)


# --- example crops ------------------------------------------------------------------------
def crop_jpeg(detection: Detection, size: int = CROP_SIZE) -> bytes | None:
    """A small JPEG of the box with some of its surroundings; None when the file is missing.

    ``detection.image.camera.site`` should be loaded. Only files of the
    image's own survey are read (surveys.selectors.image_file_key).
    """
    if image_file_key(detection.image, "web") is None:
        return None
    try:
        picture = load_web_image(detection.image).convert("RGB")
    except (OSError, FileNotFoundError):
        return None
    w, h = picture.size
    margin_x = 0.25 * (detection.right - detection.left)
    margin_y = 0.25 * (detection.bottom - detection.top)
    crop = picture.crop((round(max(0.0, detection.left - margin_x) * w),
                         round(max(0.0, detection.top - margin_y) * h),
                         round(min(1.0, detection.right + margin_x) * w),
                         round(min(1.0, detection.bottom + margin_y) * h)))
    crop.thumbnail((size, size))
    out = io.BytesIO()
    crop.save(out, "JPEG", quality=80)
    return out.getvalue()
