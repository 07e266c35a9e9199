from django.db import models


class Broadcast(models.Model):
    """An event for websocket groups, written by a process that cannot reach them.

    With an in-memory channel layer only consumers inside the web server's
    process can be reached. Worker processes therefore write their events
    here and the server relays them (see ``core.broadcast``).
    """

    group = models.CharField(max_length=100)
    message = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.group}: {self.message.get('type', '?')}"
