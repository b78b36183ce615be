from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class StandardPagination(PageNumberPagination):
    """`?page=N&page_size=M` on every list; responses carry count, next, previous and results.

    A page or page size that is not a whole number (from 1 to ``max_page_size`` for the size) is a
    400 naming the parameter: DRF would quietly use the first page or the default size instead, so a
    typo would look like a short list. A page past the last is a 404."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    last_page_strings = ()  # the schema says a page is a number

    def get_page_number(self, request: Request, paginator: Any) -> int | str:
        values = request.query_params.getlist(self.page_query_param)
        if not values:
            return 1
        if len(values) > 1 or not _whole(values[-1]) or int(values[-1]) < 1:
            raise ValidationError({self.page_query_param: ["Use a whole number from 1."]})
        return int(values[-1])

    def get_page_size(self, request: Request) -> int:
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        value = values[-1]
        if (
            len(values) > 1
            or not value.isascii()
            or not value.isdigit()
            or not 1 <= int(value) <= self.max_page_size
        ):
            raise ValidationError(
                {self.page_size_query_param: [f"Use a whole number from 1 to {self.max_page_size}."]}
            )
        return int(value)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
        return parameters


def _whole(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 9
