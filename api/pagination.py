"""Cursor pagination: no COUNT, the same cost on page 1 and page 10,000 (docs/architecture.md, "API")."""

from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


class PositionCursorPagination(IdCursorPagination):
    """A campaign's recipients in send order: (campaign, position, id) and (campaign, status, position) are indexed."""

    ordering = ("position", "id")
