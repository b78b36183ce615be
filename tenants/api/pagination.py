from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """`?page=N&page_size=M` on every list; responses carry count, next, previous and results."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
