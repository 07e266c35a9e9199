"""Websocket entry point: live import and stage progress of one survey (events.py)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.broadcast import relay
from core.consumers import refuse

from .events import status_message, survey_group
from .selectors import survey_for


class SurveyProgressConsumer(AsyncJsonWebsocketConsumer):
    """Import and stage progress of one survey, for its organisation's members."""

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
        self.group = survey_group(survey.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        relay.ensure_running()
        await self.accept()
        await self.send_json(status_message(survey))

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    # Group messages are relayed to the browser as they are.
    async def import_progress(self, event):
        await self.send_json(event)

    async def survey_status(self, event):
        await self.send_json(event)

    async def stage_progress(self, event):
        await self.send_json(event)
