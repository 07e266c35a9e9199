"""Choosing an image's timestamp at import: the chain, and which values are not trusted.

The chain (domain: Import, 3): EXIF DateTimeOriginal → DateTimeDigitized →
DateTime → a date and time written in the file name, then in its folders
(deepest first) → none. A value before 2000 or in the future (a camera whose
clock was reset, a typo) is *suspect*: the first value of the chain that is not
suspect is taken. When every value is suspect, the first is kept as what the
camera said (``Image.timestamp``) and flagged (``Image.timestamp_suspect``),
but not trusted: ``corrected_timestamp`` stays empty, so the image is clustered
alone and listed among the images without a timestamp until someone sets it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

from django.utils import timezone

from ..taxonomy import TimestampSource

EARLIEST_YEAR = 2000
# A date and a time of day in a name: 2009-04-21__00-40-00, 20190822_143005,
# 2021-04-11 20.43.09, 2014_07_02T02-55-18. Digits only at the edges, so that
# card and file counters (RCNX1227, 20190822-0829) are not read as times.
_NAME_STAMP = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d\d)(?P<s1>[-_.]?)(?P<mo>[01]\d)(?P=s1)(?P<d>[0-3]\d)"
    r"(?:[ T_-]{1,3})?"
    r"(?P<h>[0-2]\d)(?P<s2>[-_.:h]?)(?P<mi>[0-5]\d)(?P=s2)(?P<sec>[0-5]\d)(?!\d)")


@dataclass(frozen=True)
class Stamp:
    value: datetime | None  # what the camera (or the name) said, in the survey's time zone
    source: str  # TimestampSource value, "" for none
    suspect: bool = False
    note: str = ""  # for an ImportIssue that does not skip the file ("" when nothing to say)

    @property
    def trusted(self) -> datetime | None:
        """The value to compute with (corrected_timestamp): None when suspect or absent."""
        return None if self.suspect else self.value


def stamp_in_name(name: str) -> datetime | None:
    """The first valid date and time written in ``name`` (naive), else None."""
    for match in _NAME_STAMP.finditer(name):
        try:
            return datetime(int(match["y"]), int(match["mo"]), int(match["d"]),
                            int(match["h"]), int(match["mi"]), int(match["sec"]))
        except ValueError:
            continue
    return None


def name_candidates(rel: str, tz: ZoneInfo) -> list[tuple[str, datetime]]:
    """Date/times in the file name, then in its folders from the deepest up."""
    path = PurePosixPath(rel)
    found = []
    if (value := stamp_in_name(path.name)) is not None:
        found.append((TimestampSource.FILE_NAME, value.replace(tzinfo=tz)))
    for folder in reversed(path.parent.parts):
        if (value := stamp_in_name(folder)) is not None:
            found.append((TimestampSource.FOLDER_NAME, value.replace(tzinfo=tz)))
            break
    return found


def is_suspect(value: datetime, now: datetime | None = None) -> bool:
    return value.year < EARLIEST_YEAR or value > (now or timezone.now())


def choose(exif: list[tuple[str, datetime]], rel: str, tz: ZoneInfo) -> Stamp:
    """The image's timestamp from its EXIF ``(source, value)`` candidates (in chain order)
    and its path ``rel``; see the module's docstring."""
    candidates = [*exif, *name_candidates(rel, tz)]
    if not candidates:
        return Stamp(None, "", note="no EXIF timestamp and no date and time in its file or "
                     "folder name; imported without one (set it in the admin)")
    now = timezone.now()
    for source, value in candidates:
        if not is_suspect(value, now):
            skipped = [f"{TimestampSource(s).label} {v:%Y-%m-%d %H:%M:%S}"
                       for s, v in candidates[:candidates.index((source, value))]]
            note = ""
            if skipped:
                note = (f"suspect timestamp ({'; '.join(skipped)}: before {EARLIEST_YEAR} or in "
                        f"the future) passed over; took {TimestampSource(source).label}")
            elif source in (TimestampSource.FILE_NAME, TimestampSource.FOLDER_NAME):
                note = (f"no EXIF timestamp; took {value:%Y-%m-%d %H:%M:%S} from its "
                        f"{TimestampSource(source).label}")
            return Stamp(value, source, note=note)
    source, value = candidates[0]
    return Stamp(value, source, suspect=True, note=(
        f"suspect timestamp {value:%Y-%m-%d %H:%M:%S} ({TimestampSource(source).label}: before "
        f"{EARLIEST_YEAR} or in the future); check the camera clock. Kept as the camera's "
        "but not used: the image counts as without a timestamp until it is set"))
