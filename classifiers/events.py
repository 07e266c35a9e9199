"""Websocket messages about detection and classification (group ``survey.<id>``).

``ai.progress``  {survey_id, stage: "detecting"|"classifying", done, total}
"""

from surveys.events import survey_group
from traptagger.broadcast import broadcast


def ai_progress(survey_id: int, *, stage: str, done: int, total: int) -> None:
    broadcast(survey_group(survey_id), {
        "type": "ai.progress", "survey_id": survey_id, "stage": stage,
        "done": done, "total": total,
    })
