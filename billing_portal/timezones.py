"""Times in the person's own time zone, labelled, in one format everywhere.

Instants are stored and exchanged in UTC (the API writes ISO 8601 ``Z``);
only the portal's screens show them in the time zone the person chose
(``UserPreference.time_zone``). The zone is read once at login into the
session, so a page costs no extra query, and activated for admin requests by
``UserTimeZoneMiddleware``. Every time on screen reads ``2026-12-01 00:30 CST``:
the date, the time and the zone's abbreviation at that instant.
"""

import zoneinfo
from datetime import datetime

from django.conf import settings
from django.utils import dateformat, timezone

#: Where the person's zone name is kept for the session.
SESSION_KEY = "portal_time_zone"
#: The person's chosen language, kept in the session at login (no query per page).
LANGUAGE_SESSION_KEY = "portal_language"
#: The one format of a time on screen (Django's ``date`` filter syntax).
INSTANT_FORMAT = "Y-m-d H:i T"
INSTANT_FORMAT_SECONDS = "Y-m-d H:i:s T"


def default_time_zone() -> str:
    return settings.DEFAULT_USER_TIME_ZONE


def is_valid_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone_choices() -> list[tuple[str, str]]:
    """Every IANA zone, the common ones of this portal's customers first."""
    common = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Singapore", "UTC"]
    rest = sorted(zoneinfo.available_timezones() - set(common))
    return [(name, name) for name in common + rest]


def format_instant(value: datetime | None, *, seconds: bool = False) -> str:
    """``2026-12-01 00:30 CST``: the instant in the active zone, labelled."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return dateformat.format(
        local, INSTANT_FORMAT_SECONDS if seconds else INSTANT_FORMAT
    )


def zone_label(at: datetime | None = None) -> str:
    """The active zone's abbreviation at ``at`` (now by default): CST, UTC…"""
    return dateformat.format(timezone.localtime(at or timezone.now()), "T")
