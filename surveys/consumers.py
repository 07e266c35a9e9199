"""Websocket entry point: live import and stage progress of one survey (events.py)."""

from __future__ import annotations

from channels.db import database_sync_to_async

from core.consumers import MemberConsumer, refuse

from .events import status_message, survey_group
from .selectors import survey_for


class SurveyProgressConsumer(MemberConsumer):
    """Import and stage progress of one survey, for its organisation's members.

    Stops (4401/4403) when the session logs out or the member leaves
    (core.consumers.MemberConsumer).
    """

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await refuse(self, 4401)
            return
        survey_id = self.scope["url_route"]["kwargs"]["survey_id"]
        survey = await database_sync_to_async(survey_for)(user, survey_id)
        if survey is None:
            await refuse(self, 4403)
            return
        self.user, self.survey_id = user, survey.pk
        self.organisation_id = survey.organisation_id
        await self.join_member_groups()
        await self.join_group(survey_group(survey.pk))
        await self.accept()
        await self.send_json(status_message(survey))

    async def still_allowed(self) -> bool:
        return await database_sync_to_async(survey_for)(self.user, self.survey_id) is not None

    # Group messages are relayed to the browser as they are.
    async def import_progress(self, event):
        await self.send_json(event)

    async def survey_status(self, event):
        await self.send_json(event)

    async def stage_progress(self, event):
        await self.send_json(event)
