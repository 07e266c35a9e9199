"""ISO 3166 places: countries (ISO 3166-1 alpha-2, like ``KE``) and their subdivisions
(ISO 3166-2, like ``US-CA`` or ``KE-30``).

The tables come from the packages that keep them up to date: django-countries for
countries (the same list the site's country field offers and checks, so a code a
site can hold is a code a range table can name) and pycountry for subdivisions.
This module is only the glue: the checks and the messages.
"""

from __future__ import annotations

import re

import pycountry
from django_countries import countries

_SUBDIVISION = re.compile(r"^([A-Z]{2})-[A-Z0-9]{1,3}$")


def is_country(code: str) -> bool:
    return code in countries


def is_subdivision(code: str) -> bool:
    """Whether ``code`` (upper case) is an ISO 3166-2 subdivision of a known country."""
    match = _SUBDIVISION.match(code)
    return bool(match and is_country(match.group(1))
                and pycountry.subdivisions.get(code=code) is not None)


def place_problem(code: str) -> str | None:
    """What is wrong with ``code`` as a country or subdivision code, or None."""
    if is_country(code) or is_subdivision(code):
        return None
    return f"{code!r} is not an ISO 3166 country code (like KE) or subdivision (like US-CA)"


def region_problem(region: str, country: str) -> str | None:
    """What is wrong with ``region`` as the subdivision of a site in ``country``, or None."""
    if not is_subdivision(region):
        return (f"{region!r} is not an ISO 3166-2 subdivision; write the country code, a "
                "hyphen and the subdivision's code, like US-CA or KE-30")
    if country and not region.startswith(f"{country}-"):
        return f"{region!r} is not a subdivision of the site's country ({country})"
    return None
