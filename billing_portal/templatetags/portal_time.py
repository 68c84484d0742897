"""``{{ value|instant }}`` and ``{% zone_label %}``: times as the person reads them."""

from datetime import datetime

from django import template

from billing_portal.timezones import format_instant
from billing_portal.timezones import zone_label as active_zone_label

register = template.Library()


@register.filter
def instant(value):
    """The instant in the person's zone: ``2026-12-01 00:30 CST``. Anything but
    an instant (a template's missing value is "") reads "—", as Django's own
    ``date`` filter gives up quietly: a page, never a 500."""
    return format_instant(value if isinstance(value, datetime) else None)


@register.filter
def instant_seconds(value):
    return format_instant(value if isinstance(value, datetime) else None, seconds=True)


@register.simple_tag
def zone_label():
    """The abbreviation of the person's zone now, for a table header."""
    return active_zone_label()
