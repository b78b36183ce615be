"""Formatting money and shares the way the dashboard tables do, and cost figures for cluster pages."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from billing import tables
from billing.selectors.usage import cluster_spend
from clusters.models import Cluster, ManagedNode
from engines.metering import SECONDS_PER_HOUR, SavingsRow
from engines.metering.money import PERIODS

register = template.Library()


@register.filter
def money(value: float | Decimal | str | None, per: str = "") -> str:
    """The one money format of every page, always to the cent: an amount "$1,234.57"; with ``per``
    "h" a price per hour "$0.10/h", with "mo" an hourly price over a month "$70.08/mo"; "—" when
    unknown. A rate the cents round carries its exact figure as a tooltip."""
    if value is None or value == "":
        return "—"
    if per not in PERIODS:
        raise template.TemplateSyntaxError(f"money: per is '', 'h' or 'mo', not {per!r}")
    if not per:
        return tables.dollars(Decimal(str(value))).text
    cell = tables.rate(Decimal(str(value)), per)
    if not cell.title:
        return cell.text
    return format_html('<span class="money" title="{}">{}</span>', cell.title, cell.text)


@register.filter
def pct(value: float | None) -> str:
    return tables.percent(value).text


@register.filter
def serverless_fit(row: SavingsRow) -> str:
    return tables.serverless_fit(row)


@register.filter
def duration(seconds: float) -> str:
    return tables.duration(float(seconds))


@register.filter
def node_cost_so_far(node: ManagedNode, now: datetime | None = None) -> str:
    """What a launched node has cost since its launch, at the price paid (per second)."""
    if node.launched_at is None:
        return "—"
    end = node.terminated_at or now or timezone.now()
    seconds = max((end - node.launched_at).total_seconds(), 0.0)
    return money(float(node.price_per_hour) * seconds / SECONDS_PER_HOUR)


@register.inclusion_tag("billing/partials/_cluster_spend.html")
def cluster_spend_summary(cluster: Cluster) -> dict[str, Any]:
    """Spend today and this month of one cluster, from its rollups."""
    return {"cluster": cluster, "spend": cluster_spend(cluster, timezone.now())}


@register.filter
def chart_json(data: dict[str, Any]) -> str:
    """Chart data as JSON for a data attribute (the template's autoescaping makes it attribute-safe)."""
    return json.dumps(data, separators=(",", ":"))


def _cell(cell: tables.Cell, tag: str = "td") -> str:
    text = escape(cell.text)
    content = f'<a href="{escape(cell.href)}">{text}</a>' if cell.href else text
    title = f' title="{escape(cell.title)}"' if cell.title else ""
    return f"<{tag}{_NUMERIC if cell.numeric else ''}{title}>{content}</{tag}>"


_NUMERIC = ' class="num"'


def _row(row: tuple[tables.Cell, ...] | tables.Gap, width: int) -> str:
    if isinstance(row, tables.Gap):
        return f'<tr class="gap"><td colspan="{width}">{escape(row.text)}</td></tr>'
    return f"<tr>{''.join(_cell(cell) for cell in row)}</tr>"


@register.simple_tag
def data_table(table: tables.Table, empty: str = "Nothing in this window.") -> SafeString:
    """A dashboard table as HTML, built in Python with every text escaped: tables run to hundreds of
    cells, and a template loop (or format_html) per cell costs much of a page's time budget."""
    head = "".join(
        _cell(tables.Cell(header, header, numeric), "th") for header, numeric in table.header_cells
    )
    if table.rows:
        body = "\n".join(_row(row, len(table.headers)) for row in table.shown_rows)
    else:
        body = f'<tr><td colspan="{len(table.headers)}" class="muted">{escape(empty)}</td></tr>'
    foot = f"<tfoot><tr>{''.join(_cell(cell) for cell in table.footer)}</tr></tfoot>" if table.footer else ""
    key = escape(table.key)
    return mark_safe(
        f'<table id="table-{key}" data-table="{key}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody>{foot}</table>"
    )
