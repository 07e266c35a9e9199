"""Camera times as people read them: in the survey's time zone, and saying which.

Stored datetimes are aware (UTC in the database); a camera's clock showed the
survey's local time. Every page, payload and export that shows a camera time
goes through here, so that a photo whose EXIF says 02:55:18 in Lima reads
"2014-07-02 02:55:18 (America/Lima)", never 07:55:18 unlabelled.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

NO_TIMESTAMP = "no timestamp"


def local(moment: datetime | None, zone: str) -> datetime | None:
    """``moment`` in the time zone ``zone`` (None stays None)."""
    return None if moment is None else moment.astimezone(ZoneInfo(zone))


def camera_time(moment: datetime | None, zone: str, *, empty: str = NO_TIMESTAMP) -> str:
    """"2014-07-02 02:55:18 (America/Lima)"; ``empty`` when there is no time."""
    if moment is None:
        return empty
    return f"{local(moment, zone):%Y-%m-%d %H:%M:%S} ({zone})"


def camera_time_iso(moment: datetime | None, zone: str) -> str | None:
    """ISO 8601 in the survey's time zone, with its UTC offset: 2014-07-02T02:55:18-05:00."""
    return None if moment is None else local(moment, zone).isoformat()
