"""DRF plumbing named in settings (kept free of imports of DRF's views)."""

import json

from rest_framework import exceptions, pagination, parsers

from .money import NonFiniteNumber, RawNumber


class ExactJSONParser(parsers.JSONParser):
    """JSON whose non-integer numbers are kept as written (never a binary float)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            text = stream.read().decode(encoding)
            # NaN/Infinity are kept as a marker that every field refuses, so the
            # 400 names the field (SPEC §2) instead of failing the whole body.
            return json.loads(
                text, parse_float=RawNumber, parse_constant=NonFiniteNumber
            )
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc


class Pagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
