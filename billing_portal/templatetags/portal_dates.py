"""The ledger's date drill-down with fixed choices.

Django's ``date_hierarchy`` builds its links from the data: ``MIN``/``MAX`` of
the date over every visible row, then ``DISTINCT`` years, months or days. At a
million ledger lines that reading is most of the page. These choices come from
the calendar instead (the user's time zone, as the filter itself): the same
``…__year``/``__month``/``__day`` parameters, so existing links keep working,
and a period without lines simply lists none.
"""

import calendar
import datetime

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

register = template.Library()

#: Years offered at the top level: this one and the two before it (older
#: periods: the URL parameters, or the account's ledger page).
YEARS_OFFERED = 3


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def fixed_date_hierarchy(cl):
    if not cl.date_hierarchy:
        return {"show": False}
    field = cl.date_hierarchy
    year_field, month_field, day_field = (
        f"{field}__{part}" for part in ("year", "month", "day")
    )
    year = _int(cl.params.get(year_field))
    month = _int(cl.params.get(month_field))
    day = _int(cl.params.get(day_field))
    today = timezone.localdate()

    def link(filters):
        return cl.get_query_string(filters, [f"{field}__"])

    def month_title(y, m):
        first = datetime.date(y, m, 1)
        return capfirst(formats.date_format(first, "YEAR_MONTH_FORMAT"))

    if year and month and day:
        try:
            date = datetime.date(year, month, day)
        except ValueError:
            return {"show": False}
        return {
            "show": True,
            "back": {
                "link": link({year_field: year, month_field: month}),
                "title": month_title(year, month),
            },
            "choices": [
                {"title": capfirst(formats.date_format(date, "MONTH_DAY_FORMAT"))}
            ],
        }
    if year and month:
        if not 1 <= month <= 12 or not datetime.MINYEAR <= year <= datetime.MAXYEAR:
            return {"show": False}
        last = calendar.monthrange(year, month)[1]
        if (year, month) == (today.year, today.month):
            last = today.day
        days = [datetime.date(year, month, d) for d in range(1, last + 1)]
        return {
            "show": True,
            "back": {"link": link({year_field: year}), "title": str(year)},
            "choices": [
                {
                    "link": link(
                        {year_field: year, month_field: month, day_field: d.day}
                    ),
                    "title": capfirst(formats.date_format(d, "MONTH_DAY_FORMAT")),
                }
                for d in days
            ],
        }
    if year:
        last = today.month if year == today.year else 12
        return {
            "show": True,
            "back": {"link": link({}), "title": _("All dates")},
            "choices": [
                {
                    "link": link({year_field: year, month_field: m}),
                    "title": month_title(year, m),
                }
                for m in range(1, last + 1)
            ],
        }
    return {
        "show": True,
        "back": None,
        "choices": [
            {
                "link": link(
                    {
                        year_field: today.year,
                        month_field: today.month,
                        day_field: today.day,
                    }
                ),
                "title": _("Today"),
            },
            {
                "link": link({year_field: today.year, month_field: today.month}),
                "title": month_title(today.year, today.month),
            },
            *(
                {"link": link({year_field: y}), "title": str(y)}
                for y in range(today.year, today.year - YEARS_OFFERED, -1)
            ),
        ],
    }


@register.tag(name="fixed_date_hierarchy")
def fixed_date_hierarchy_tag(parser, token):
    return InclusionAdminNode(
        parser,
        token,
        func=fixed_date_hierarchy,
        template_name="date_hierarchy.html",
        takes_context=False,
    )
