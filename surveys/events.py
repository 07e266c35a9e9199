"""Websocket messages about surveys (group ``survey.<id>``).

``import.progress``  {survey_id, import_id, processed, total, imported, issues, status}
``stage.progress``   {survey_id, stage, done, total}  (stage: "clustering", "detecting",
                     "static" or "classifying")
``survey.status``    {survey_id, status, label, detail}  (on every status change)
"""

from core.broadcast import broadcast


def survey_group(survey_id: int) -> str:
    return f"survey.{survey_id}"


def import_progress(run, *, issues: int) -> None:
    broadcast(survey_group(run.survey_id), {
        "type": "import.progress",
        "survey_id": run.survey_id,
        "import_id": run.pk,
        "processed": run.processed,
        "total": run.total,
        "imported": run.imported,
        "issues": issues,
        "status": run.status,
    })


def status_message(survey) -> dict:
    return {
        "type": "survey.status",
        "survey_id": survey.pk,
        "status": survey.status,
        "label": survey.get_status_display(),
        "detail": survey.status_detail,
    }


def survey_status(survey) -> None:
    broadcast(survey_group(survey.pk), status_message(survey))


def stage_progress(survey_id: int, *, stage: str, done: int, total: int) -> None:
    broadcast(survey_group(survey_id), {
        "type": "stage.progress", "survey_id": survey_id, "stage": stage,
        "done": done, "total": total,
    })
