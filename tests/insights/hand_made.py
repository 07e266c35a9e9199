"""Insights built by hand (no database) for the chart tests: a survey's, a task's and a
classifier's, with names that try to break out of text."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from insights.services.aggregates import CameraOperation, Filters, SurveyInsights
from insights.services.classifier_aggregates import ClassifierInsights
from insights.services.task_aggregates import AnnotatorRow, TaskInsights

XSS = "<script>alert(1)</script>"
NASTY = "Zebra & \"Grévy's\" <b>\x07"  # markup, quotes, an accent, a control character


def insights(species=("Zebra", "Lion"), site_name="Kopje", verified=None, ai=None,
             activity=None, cameras=None, filters=None) -> SurveyInsights:
    tz = ZoneInfo("Africa/Nairobi")
    sites = {1: (site_name, -2.45, 34.83), 2: ("River", -2.52, 34.91)}
    verified = Counter(verified if verified is not None
                       else {(1, species[0]): 10, (2, species[0]): 4, (1, species[1]): 5})
    ai = Counter(ai if ai is not None else {(1, species[0]): 2, (2, species[1]): 3})
    independent = Counter({key: max(1, n // 2) for key, n in verified.items()})
    if cameras is None:
        cam = CameraOperation(7, f"{site_name}/CAM1", 1,
                              first=datetime(2024, 1, 1, 6, tzinfo=UTC),
                              last=datetime(2024, 1, 20, 18, tzinfo=UTC))
        cam.gaps = [(datetime(2024, 1, 5, 12, tzinfo=UTC), datetime(2024, 1, 15, 12, tzinfo=UTC))]
        cam.days = {date(2024, 1, d) for d in (1, 2, 3, 4, 5, 15, 16, 17, 18, 19, 20)}
        cameras = [cam]
    return SurveyInsights(
        survey=SimpleNamespace(timezone="Africa/Nairobi"), filters=filters or Filters(),
        task=None, tz=tz, sites=sites, headline={}, verified=verified, ai_only=ai,
        activity=activity if activity is not None else {
            species[0]: [n % 5 for n in range(24)], species[1]: [1] * 24},
        independent=independent, trap_nights={1: 11, 2: 0}, cameras=cameras, gap_days=7.0)


H0 = datetime(2024, 5, 2, 6, tzinfo=UTC)


def person(name, clusters, measured=0, seconds=0.0, median=None, suggested=0, agreed=0,
           checked=0, kept=0):
    return AnnotatorRow(None, name, clusters, measured, seconds, median, H0, H0, suggested,
                        agreed, checked, kept)


def task_insights(hourly=((0, 2), (1, 3), (5, 5)), total=20, annotators=None) -> TaskInsights:
    """Clusters labelled in hours 0, 1 and 5 after H0 (2, 3 and 5 of them) of 20."""
    if annotators is None:
        annotators = [person("alice", 30, 30, 3600.0, 12.0, suggested=20, agreed=15),
                      person("bob", 10, 10, 3600.0, 8.5),
                      person(XSS, 5, suggested=4, agreed=1, checked=2, kept=1)]
    return TaskInsights(task=None, tz=ZoneInfo("Africa/Nairobi"), total=total,
                        labelled=sum(n for _h, n in hourly),
                        hourly=[(H0 + timedelta(hours=h), n) for h, n in hourly],
                        annotators=annotators)


def classifier_insights(threshold=0.5, other=XSS) -> ClassifierInsights:
    """Zebra and Lion clusters, and four of ``other``: a class the AI never answers."""
    label_rows = Counter({("Zebra", "Zebra", 0.9): 6, ("Zebra", "Lion", 0.7): 2,
                          ("Lion", "Lion", 0.8): 3, ("Lion", "Zebra", 0.3): 1,
                          ("Lion", "Lion", 0.2): 2, (other, "Zebra", 0.6): 4})
    cluster_rows = Counter()
    for (_label, suggestion, score), n in label_rows.items():
        cluster_rows[(suggestion, score)] += n
    return ClassifierInsights(task=None, classifier="Savanna", classes=["Zebra", "Lion", other],
                              threshold=threshold, label_rows=label_rows,
                              cluster_rows=cluster_rows)
