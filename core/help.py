"""Help where people work: a short panel on each admin page and the README as /help/.

``ADMIN_HELP`` holds one panel per admin page, keyed "app_label.model_name" ("index" for the
admin's front page): what the page is for, what to do next, and the README section that
says more. ``tests/core/test_help.py`` checks that every registered admin page of the
project has one and that every section named exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings


@dataclass(frozen=True)
class HelpPanel:
    purpose: str
    next_step: str
    section: str  # a README heading, e.g. "Everyday commands"


ADMIN_HELP: dict[str, HelpPanel] = {
    "index": HelpPanel(
        "Everything your organisation owns: surveys and their images, annotation tasks, "
        "classifiers, exports and members. You see only your own organisation's data.",
        "New here? Import a survey (Surveys → Add, or the import_survey command), then make an "
        "annotation task for it and launch it for your annotators.",
        "Everyday commands"),
    # accounts
    "accounts.user": HelpPanel(
        "People who can log in. An account belongs to organisations through memberships.",
        "To bring someone into your organisation, send an invitation rather than making an "
        "account here.", "Everyday commands"),
    "accounts.organisation": HelpPanel(
        "Organisations own surveys, tasks, classifiers and exports; members see only their own.",
        "Site staff approve new organisations from Enquiries; an organisation's admins manage "
        "its members.", "Everyday commands"),
    "accounts.membership": HelpPanel(
        "Who belongs to which organisation, and in which role (admin, annotator, …).",
        "Change a role here; the person's open pages check their rights again at once.",
        "Everyday commands"),
    "accounts.invitation": HelpPanel(
        "Invitations to join your organisation, by username or e-mail address.",
        "Add one to invite a person; they accept it from their home page after logging in.",
        "Everyday commands"),
    "accounts.enquiry": HelpPanel(
        "Requests for a new organisation from the public form. Site staff get a mail for each.",
        "Select a new enquiry and run “Approve” to create the organisation and mail its admin "
        "the log-in.", "Production"),
    "accounts.apitoken": HelpPanel(
        "Tokens for the REST API, each tied to one person and organisation.",
        "Make a token, copy it once (it is not shown again) and send it as "
        "“Authorization: Token …”.", "REST API"),
    # surveys
    "surveys.survey": HelpPanel(
        "Surveys: one season or study's photos, with their sites, cameras, clusters and the "
        "stages each went through (import, detection, classification).",
        "Add a survey to import a folder; open one to follow its progress, see its insights, or "
        "rerun a stage.", "Everyday commands"),
    "surveys.site": HelpPanel(
        "Camera sites (stations), with coordinates. Exports such as Camtrap DP need coordinates "
        "for every site.", "Fill in latitude and longitude for sites that lack them.",
        "Camtrap DP import"),
    "surveys.camera": HelpPanel(
        "Cameras (folders) at each site. Times are shown in the survey's time zone.",
        "Check that each camera landed at the right site after an import.",
        "Everyday commands"),
    "surveys.image": HelpPanel(
        "Every imported image, with the camera's time (local time, as the survey's time zone "
        "says) and the cluster it belongs to.",
        "Filter by survey or site to find an image; import problems are under Import runs.",
        "Everyday commands"),
    "surveys.cluster": HelpPanel(
        "Clusters: images of one camera taken close together, labelled as one event.",
        "Use Explore (from a task) to browse clusters as thumbnails and label many at once.",
        "Exploring and bulk labelling"),
    "surveys.importrun": HelpPanel(
        "Each import: files seen, imported and refused, with the reason and file name of each "
        "problem.", "Open a run to see its problems; fix the files and import the same folder "
        "again (what is there already is skipped).", "Everyday commands"),
    # classifiers
    "classifiers.classifier": HelpPanel(
        "Species classifiers: the shared ones and your organisation's own.",
        "Add one by uploading a model (it is checked in isolation before use), or train one "
        "from your labelled data.", "Classifiers"),
    "classifiers.detector": HelpPanel(
        "Animal detectors that draw boxes before classification; the default is a one-class "
        "camera-trap detector.", "Register your own (e.g. MegaDetector) or choose one per survey.",
        "The default detector"),
    "classifiers.detection": HelpPanel(
        "Boxes found by detectors or drawn by people, with their scores.",
        "Filter by survey or image; static boxes (the same spot in many images) are grouped "
        "under Static groups.", "MegaDetector results"),
    "classifiers.staticgroup": HelpPanel(
        "Boxes that stay in the same place across many images (a branch, a flare), set aside "
        "so they do not count as animals.",
        "Check a group's images and mark it as an animal if it really is one.",
        "The default detector"),
    "classifiers.mask": HelpPanel(
        "Areas of a camera's view to ignore (a moving branch, a timestamp bar).",
        "Draw a mask for a camera whose false boxes keep coming from one place.",
        "The default detector"),
    # annotation
    "annotation.task": HelpPanel(
        "Annotation tasks: a label set for a survey, launched at a tagging level for "
        "annotators.", "Make a task from a region template, CSV or another task, launch it, "
        "then follow it here or open its tagging and explore pages.", "Everyday commands"),
    "annotation.clusterannotation": HelpPanel(
        "The labels people gave each cluster, with who gave them and when.",
        "To change many at once, use the task's Explore page and its bulk actions.",
        "Exploring and bulk labelling"),
    "annotation.bulkaction": HelpPanel(
        "Bulk actions taken (accepting AI suggestions, relabelling), each with the clusters it "
        "changed.", "Start a new one from a task's Explore page.", "Exploring and bulk labelling"),
    # results
    "results.export": HelpPanel(
        "Exports of results (CSV, Camtrap DP, COCO, Excel, record table) and of training data, "
        "built by a worker.",
        "Add an export; the list shows a download link when it is ready (kept "
        "EXPORT_KEEP_DAYS days).", "Everyday commands"),
    # training
    "training.trainingrun": HelpPanel(
        "Classifier training runs on your labelled data, with their progress and results.",
        "Start one from the command line or here; the trained classifier appears under "
        "Classifiers.", "Training a classifier"),
}


def panel_for(key: str) -> HelpPanel | None:
    return ADMIN_HELP.get(key)


def section_anchor(section: str) -> str:
    """The id the README's heading gets on /help/ (Markdown's table-of-contents slug)."""
    from markdown.extensions.toc import slugify

    return slugify(section, "-")


@lru_cache(maxsize=4)
def _render(path: str, mtime: float) -> tuple[str, tuple[str, ...]]:
    import markdown

    md = markdown.Markdown(extensions=["toc", "tables", "fenced_code"])
    md.preprocessors.deregister("html_block")  # raw HTML is shown as text, never run
    md.inlinePatterns.deregister("html")
    html = md.convert(Path(path).read_text(encoding="utf-8"))
    anchors = tuple(_ids(md.toc_tokens))
    return html, anchors


def _ids(tokens):
    for token in tokens:
        yield token["id"]
        yield from _ids(token["children"])


def readme() -> tuple[str, tuple[str, ...]]:
    """(the README as HTML, its heading ids). Raw HTML in the README is escaped."""
    path = Path(settings.BASE_DIR) / "README.md"
    return _render(str(path), path.stat().st_mtime)
