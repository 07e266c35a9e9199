"""What the AI may label: translations from classifier classes to a task's labels, and
auto-labelling of clusters nobody has labelled yet.

Domain rules (domain.md, Detection and classification):

* a translation maps a classifier class to a label of the task, matched by
  name (case-insensitive) and editable in the admin;
* for classes whose translation says auto-label, a cluster nobody labelled
  gets the label when its relevant boxes give that class at least one
  qualifying vote and over half of the boxes (rule ``standard``), or also 5+
  votes and over a quarter (rule ``open``: plains, waterholes);
* a cluster where over half the relevant boxes are people or vehicles gets
  Vehicles/Humans/Livestock (the task's ``label_people_vehicles``).

A qualifying vote: classifiers.selectors.cluster_votes (the class's threshold,
not tiny). Auto-labelled clusters are marked ``auto_labelled`` and are not
offered to annotators.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from classifiers.selectors import ClusterVotes, cluster_votes

from ..exceptions import NotAllowed
from ..models import ClusterAnnotation, Label, Task, Translation
from ..taxonomy import AutoLabelRule
from .common import check_may_change, ensure_special_labels
from .progress import forget_progress

PEOPLE_LABEL = "Vehicles/Humans/Livestock"
PAGE = 900


@dataclass
class AutoLabelled:
    species: int = 0
    people: int = 0


def classes_to_translate(task: Task) -> list[str]:
    """The survey's classifier's classes, and the parents its geofence can roll up to."""
    classifier = task.survey.classifier
    if classifier is None:
        return []
    names = list(classifier.classes)
    if classifier.geofence:
        parents = {entry.get("parent") or "Animal"
                   for entry in classifier.species_ranges.values()}
        names += sorted(parents - set(names))
    return names


def do_match_translations(task: Task, *, acting_user=None) -> int:
    """Add a translation for each class not yet translated: the label of the same name.

    Names are compared case-insensitively over the task's labels (any
    level); a class without such a label is translated to nothing. Existing
    translations (edited by people) are kept. Returns how many were added.
    """
    check_may_change(acting_user, task.survey, "change translations")
    have = set(task.translations.values_list("classification", flat=True))
    labels = {label.name.casefold(): label for label in Label.objects.filter(task=task)}
    new = [Translation(task=task, classification=name, label=labels.get(name.casefold()))
           for name in classes_to_translate(task) if name not in have]
    Translation.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def do_save_translations(task: Task, translations: list[Translation], *,
                         acting_user) -> None:
    """Save edited translations of ``task`` (the admin's inline); labels must be the task's."""
    check_may_change(acting_user, task.survey, "change translations")
    label_ids = set(Label.objects.filter(task=task).values_list("pk", flat=True))
    for translation in translations:
        if translation.task_id != task.pk or (
                translation.label_id is not None and translation.label_id not in label_ids):
            raise NotAllowed("A translation can only give a label of its own task.")
    with transaction.atomic():
        for translation in translations:
            translation.save(update_fields=["label", "auto_label"])


def qualifies(rule: str, count: int, ratio: float) -> bool:
    """Whether ``count`` votes making ``ratio`` of a cluster's boxes meet ``rule``."""
    standard = count >= 1 and ratio > 0.5
    if rule == AutoLabelRule.STANDARD:
        return standard
    if rule == AutoLabelRule.OPEN:
        return standard or (count >= 5 and ratio > 0.25)
    return False


def decide(task: Task, votes: ClusterVotes | None, auto: dict[str, int]) -> int | None:
    """The label id the AI gives a cluster with ``votes`` (None: leave it to people)."""
    if votes is None or votes.boxes == 0:
        return None
    if task.label_people_vehicles and votes.people > votes.boxes / 2:
        return auto[PEOPLE_LABEL]
    top = votes.top()
    if top in auto and qualifies(task.auto_label, votes.votes[top],
                                 votes.votes[top] / votes.boxes):
        return auto[top]
    return None


def _open_annotations(task: Task):
    now = timezone.now()
    return ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=True).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))


def do_auto_label(task: Task, *, acting_user=None) -> AutoLabelled:
    """Label the task's open clusters the AI is sure of (module rules); returns counts.

    Open: not labelled, not leased to someone now. Rows are locked while they
    are labelled, so a cluster claimed meanwhile is not labelled twice.
    """
    check_may_change(acting_user, task.survey, "auto-label clusters")
    ensure_special_labels()
    auto = {t.classification: t.label_id for t in task.translations.filter(
        auto_label=True, label__isnull=False)} if task.auto_label != AutoLabelRule.OFF else {}
    auto[PEOPLE_LABEL] = Label.objects.get(task=None, name=PEOPLE_LABEL).pk
    votes = cluster_votes(task.survey, task.survey.classifier)
    chosen = {pk: label for pk, cluster_id in _open_annotations(task).values_list(
        "pk", "cluster_id") if (label := decide(task, votes.get(cluster_id), auto))}
    done = AutoLabelled()
    ids = list(chosen)
    for start in range(0, len(ids), PAGE):
        with transaction.atomic():
            locked = list(_open_annotations(task).select_for_update().filter(
                pk__in=ids[start:start + PAGE]).values_list("pk", flat=True))
            through = ClusterAnnotation.labels.through
            through.objects.bulk_create([through(clusterannotation_id=pk,
                                                 label_id=chosen[pk]) for pk in locked])
            ClusterAnnotation.objects.filter(pk__in=locked).update(
                labelled_at=timezone.now(), auto_labelled=True, annotator=None)
        people = sum(chosen[pk] == auto[PEOPLE_LABEL] for pk in locked)
        done.people += people
        done.species += len(locked) - people
    forget_progress(task.pk)
    return done
