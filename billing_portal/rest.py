"""DRF plumbing named in settings (kept free of imports of DRF's views)."""

import json

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, pagination, parsers

from .money import NonFiniteNumber, RawNumber

#: No request body of this API nests deeper than a few levels; a deeper one is
#: refused before any code walks it recursively (json itself recurses too).
MAX_JSON_DEPTH = 32


class ExactJSONParser(parsers.JSONParser):
    """JSON whose non-integer numbers are kept as written (never a binary float)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            text = stream.read().decode(encoding)
            # NaN/Infinity are kept as a marker that every field refuses, so the
            # 400 names the field (SPEC §2) instead of failing the whole body.
            data = json.loads(
                text, parse_float=RawNumber, parse_constant=NonFiniteNumber
            )
        except RecursionError as exc:
            raise _too_deep() from exc
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        if _depth(data) > MAX_JSON_DEPTH:
            raise _too_deep()
        return data


def _too_deep() -> exceptions.ParseError:
    return exceptions.ParseError(
        _("JSON parse error - nested deeper than %(limit)s levels.")
        % {"limit": MAX_JSON_DEPTH}
    )


def _depth(data) -> int:
    """How deep lists and objects nest in ``data`` (walked without recursion)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


class Pagination(pagination.PageNumberPagination):
    """SPEC §8: 50 a page, ``page_size`` up to 500 (larger is capped at 500).

    ``page`` and ``page_size`` must be positive integers written in ASCII
    digits; anything else is a 400 naming the parameter (DRF would answer a
    404 for ``page`` and silently ignore a bad ``page_size``). A page past the
    last is DRF's 404.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        return min(_positive_int(self.page_size_query_param, value), self.max_page_size)

    def get_page_number(self, request, paginator):
        value = request.query_params.get(self.page_query_param)
        if value is None:
            return 1
        return _positive_int(self.page_query_param, value)


def _positive_int(name: str, value: str) -> int:
    digits = value.lstrip("0")
    if not (value.isascii() and value.isdigit()) or not digits:
        raise exceptions.ValidationError(
            {name: [_("Enter a whole number of at least 1.")]}
        )
    # Past 18 digits it is past any last page and above any page size alike;
    # int() of thousands of digits would raise instead.
    return int(digits) if len(digits) <= 18 else 10**18
