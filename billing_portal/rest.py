"""DRF plumbing named in settings (kept free of imports of DRF's views)."""

import base64
import binascii
import json
from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, pagination, parsers
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

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

    Deep pages by key (issue 9): ``?cursor=`` (empty) starts the same list in
    keyset mode, and its ``next`` links carry a cursor, the last row's sort
    key, so page 2,000 costs what page 1 does (``page=N`` skips N-1 pages of
    rows with ``OFFSET``). The body is the same shape: ``count``, ``next``,
    ``previous`` (a ``page`` link: back is where offsets are cheap),
    ``results``. Lists sorted by a related field do not page by cursor (400).
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    cursor_query_param = "cursor"

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

    def paginate_queryset(self, queryset, request, view=None):
        self.keyset_page = None
        cursor = request.query_params.get(self.cursor_query_param)
        if cursor is None:
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        keys = _sort_keys(queryset)
        if keys is None:
            raise exceptions.ValidationError(
                {self.cursor_query_param: [_("This list pages by page number only.")]}
            )
        number, after = _decode_cursor(cursor, keys)
        size = self.get_page_size(request)
        rows = queryset.filter(_after(keys, after)) if after else queryset
        rows = list(rows[: size + 1])
        self.keyset_page = _KeysetPage(
            number=number,
            rows=rows[:size],
            has_next=len(rows) > size,
            count=queryset.count(),
            keys=keys,
        )
        return self.keyset_page.rows

    def get_paginated_response(self, data):
        page = self.keyset_page
        if page is None:
            return super().get_paginated_response(data)
        url = remove_query_param(
            self.request.build_absolute_uri(), self.page_query_param
        )
        next_link = None
        if page.has_next:
            last = page.rows[-1]
            values = [str(getattr(last, field.attname)) for field, _desc in page.keys]
            next_link = replace_query_param(
                url, self.cursor_query_param, encode_cursor(page.number + 1, values)
            )
        previous = None
        if page.number > 1:
            previous = remove_query_param(url, self.cursor_query_param)
            if page.number > 2:
                previous = replace_query_param(
                    previous, self.page_query_param, page.number - 1
                )
        return Response(
            {
                "count": page.count,
                "next": next_link,
                "previous": previous,
                "results": data,
            }
        )

    def get_schema_operation_parameters(self, view):
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": (
                    "Page by key instead of by number: empty for the first page, "
                    "then follow `next`. Deep pages cost what the first does."
                ),
                "schema": {"type": "string"},
            },
        ]


@dataclass
class _KeysetPage:
    number: int
    rows: list
    has_next: bool
    count: int
    keys: list


def _sort_keys(queryset) -> list | None:
    """The list's order as (field, descending) pairs, when it is a total order
    of the model's own non-null columns ending with a unique one; else None."""
    query = queryset.query
    names = list(query.order_by) or (
        list(queryset.model._meta.ordering) if query.default_ordering else []
    )
    keys = []
    for name in names:
        if not isinstance(name, str) or "__" in name or name.lstrip("-") == "?":
            return None
        try:
            field = queryset.model._meta.get_field(
                "id" if name.lstrip("-") == "pk" else name.lstrip("-")
            )
        except FieldDoesNotExist:
            return None
        if field.is_relation or field.null or not field.concrete:
            return None
        keys.append((field, name.startswith("-")))
    if not keys or not keys[-1][0].unique:
        return None
    return keys


def _after(keys, values) -> Q:
    """Rows after ``values`` in the order of ``keys`` (lexicographic)."""
    condition = Q(pk__in=[])
    for index, (field, descending) in enumerate(keys):
        step = Q(**{f"{field.name}__{'lt' if descending else 'gt'}": values[index]})
        for earlier, (other, _desc) in enumerate(keys[:index]):
            step &= Q(**{other.name: values[earlier]})
        condition |= step
    return condition


def encode_cursor(number: int, values: list[str]) -> str:
    raw = json.dumps([number, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, keys) -> tuple[int, list | None]:
    """(page number, the previous page's last key) of a cursor; "" is page 1."""
    if cursor == "":
        return 1, None
    invalid = exceptions.ValidationError(
        {"cursor": [_("This cursor is not valid: follow the list's next link.")]}
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        number, values = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise invalid from exc
    if (
        not isinstance(number, int)
        or isinstance(number, bool)
        or not 2 <= number <= 10**18
        or not isinstance(values, list)
        or len(values) != len(keys)
        or not all(isinstance(v, str) and len(v) <= 256 for v in values)
    ):
        raise invalid
    try:
        parsed = [
            field.to_python(v) for (field, _d), v in zip(keys, values, strict=True)
        ]
        for (field, _d), value in zip(keys, parsed, strict=True):
            field.run_validators(value)
            if value is None:
                raise ValidationError("null")
    except (ValidationError, ValueError, TypeError, OverflowError) as exc:
        raise invalid from exc
    return number, parsed


def _positive_int(name: str, value: str) -> int:
    digits = value.lstrip("0")
    if not (value.isascii() and value.isdigit()) or not digits:
        raise exceptions.ValidationError(
            {name: [_("Enter a whole number of at least 1.")]}
        )
    # Past 18 digits it is past any last page and above any page size alike;
    # int() of thousands of digits would raise instead.
    return int(digits) if len(digits) <= 18 else 10**18
