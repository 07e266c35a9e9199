"""Running detection or classification again on a survey, through the pipeline conductor."""

from __future__ import annotations

from django.db import transaction

from accounts.access import check_capability
from accounts.taxonomy import Capability
from surveys.models import Cluster, Image, Survey
from surveys.services import pipeline
from surveys.services.surveys import do_save_survey
from surveys.taxonomy import DEFAULT_DETECTOR, SurveyStatus

from ..exceptions import ClassifierError
from ..models import Classifier, Detection, Detector
from ..selectors import detector_named, detectors_for
from .default_detector import registered_default
from .detectors import DETECTORS
from .supersede import current_detector, survey_detectors


def do_run_detection(survey: Survey, *, detector: str | None = None, acting_user=None,
                     inline: bool = False) -> None:
    """Run the detection stage again (with ``detector`` from now on), then the stages after it.

    ``detector``: ``default`` (the default animal detector), a weight-free
    detector (``motion``, ``whole``) or a
    registered one that the survey's organisation may use, as ``NAME`` (its
    newest version) or ``NAME:VERSION`` (ClassifierError for any other). The
    stage detects the images no detector has seen yet (new imports,
    MegaDetector failure records); choosing a detector other than the one
    whose boxes the survey has detects every image again, superseding the
    earlier machine boxes (services.supersede). The survey must be ready or failed
    (SurveyError otherwise); ``acting_user`` needs CHANGE (None: an operator).
    The task starts on the ``gpu`` queue once the transaction commits
    (``inline``: in this process).
    """
    if acting_user is not None:
        check_capability(acting_user, survey, Capability.CHANGE)
    registered = None
    if detector is not None and detector not in (*DETECTORS, DEFAULT_DETECTOR):
        registered = detector_named(detector, survey)
        if registered is None:
            choices = ", ".join([DEFAULT_DETECTOR, *sorted(DETECTORS), *detectors_for(survey)])
            raise ClassifierError(
                f"Unknown detector {detector!r}; choose one of {choices}. "
                "MegaDetector's boxes are brought in with import_detections.")
    with transaction.atomic():
        pipeline.do_rerun_stage(survey, SurveyStatus.DETECTING, inline=inline)
        if detector is not None:
            _choose_detector(survey, detector, registered, acting_user)


def _choose_detector(survey: Survey, name: str, registered: Detector | None,
                     acting_user) -> None:
    """Make ``name`` the survey's detector. A detector other than the one whose boxes are
    current on the survey detects every image again (superseding those boxes as it goes)."""
    if registered is not None:
        changed = survey.registered_detector_id != registered.pk
        survey.registered_detector = registered
    else:
        changed = survey.registered_detector_id is not None or survey.detector != name
        survey.detector, survey.registered_detector = name, None
    if changed:
        do_save_survey(survey, acting_user=acting_user)
    chosen = survey.detector_source
    if name == DEFAULT_DETECTOR and registered is None:
        default = registered_default()  # None until its first use
        chosen = default.source if default else name
    current = current_detector(survey_detectors(survey))
    if current is not None and current != chosen:
        Image.objects.filter(camera__site__survey=survey).update(detected=False)


def do_run_classifier(survey: Survey, classifier: Classifier, *, acting_user=None,
                      inline: bool = False) -> None:
    """Classify the survey's relevant boxes with ``classifier``, then suggest cluster species.

    Choosing another classifier (or version) than the survey's clears the old
    one's classifications and suggestions first, in the same transaction; the
    same one only classifies what it has not classified yet. The survey must be ready
    or failed (SurveyError otherwise); ``acting_user`` needs CHANGE (None: an
    operator), and the classifier must be shared or the survey's
    organisation's (SurveyError).
    """
    if acting_user is not None:
        check_capability(acting_user, survey, Capability.CHANGE)
    with transaction.atomic():
        pipeline.do_rerun_stage(survey, SurveyStatus.CLASSIFYING, inline=inline)
        if survey.classifier_id != classifier.pk:
            survey.classifier = classifier
            do_save_survey(survey, acting_user=acting_user)
            Detection.objects.filter(image__camera__site__survey=survey).exclude(
                classification="").update(classification="", classification_score=None)
            Cluster.objects.filter(survey=survey).update(suggestion="", suggestion_score=None)
