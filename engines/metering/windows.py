"""Report windows (OpenCost's `window` vocabulary) and which rollups cover them.

Windows are whole UTC hours. Keywords: `today`, `yesterday`, `month` (this month so far),
`lastmonth`, durations `24h`, `48h`, `7d`, `30d` (ending with the current hour), and custom ranges
`start,end` of dates (both days included) or RFC 3339 times (rounded out to whole hours).

A window is read from daily rollups for the whole UTC days inside it and from hourly rollups for
the hours before the first and after the last whole day, so no page sums more than about 48 rows
per cluster and group whatever the window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MAX_WINDOW = timedelta(days=400)
HOURLY_STEP_LIMIT = timedelta(hours=48)  # longer windows are charted per day

PRESETS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "month": "This month",
    "lastmonth": "Last month",
}
DEFAULT_WINDOW = "7d"
_DURATION = re.compile(r"^(\d{1,4})([hd])$")
# Custom ranges name years in this span: nothing was metered before, and dates near the calendar's
# ends (year 1, 9999) would overflow when a range is rounded out to whole hours or days.
FIRST_YEAR, LAST_YEAR = 2000, 2999


class WindowError(ValueError):
    """A window the report cannot use; the message says what is accepted."""


@dataclass(frozen=True, slots=True)
class ReportWindow:
    key: str  # what the URL carries ("7d", or "2026-01-01,2026-01-31")
    label: str
    start: datetime
    end: datetime

    @property
    def step(self) -> str:
        return "hour" if self.end - self.start <= HOURLY_STEP_LIMIT else "day"

    @property
    def hours(self) -> float:
        return (self.end - self.start) / HOUR

    @property
    def is_custom(self) -> bool:
        return "," in self.key


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floored = floor_hour(moment)
    return floored if floored == moment else floored + HOUR


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def ceil_day(moment: datetime) -> datetime:
    floored = floor_day(moment)
    return floored if floored == moment else floored + DAY


def month_start(moment: datetime) -> datetime:
    return floor_day(moment).replace(day=1)


def next_month_start(moment: datetime) -> datetime:
    start = month_start(moment)
    return (start + timedelta(days=32)).replace(day=1)


def _preset(key: str, now: datetime) -> tuple[datetime, datetime]:
    end = floor_hour(now) + HOUR  # the end of the current hour: it includes what was metered so far
    today = floor_day(now)
    if key == "today":
        return today, end
    if key == "yesterday":
        return today - DAY, today
    if key == "month":
        return month_start(now), end
    if key == "lastmonth":
        this_month = month_start(now)
        return month_start(this_month - DAY), this_month
    match = _DURATION.match(key)
    if not match:
        raise WindowError(_help(key))
    amount = int(match.group(1)) * (HOUR if match.group(2) == "h" else DAY)
    return end - amount, end


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "…")


def _moment(text: str, *, end: bool) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise WindowError(f"{_shown(text)} is neither a date (2026-01-31) nor an RFC 3339 time.")
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise WindowError(f"{_shown(text)} is outside the years {FIRST_YEAR} to {LAST_YEAR}.")
    if len(text) == 10:
        return parsed + DAY if end else parsed  # a date range includes its last day
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    return ceil_hour(parsed) if end else floor_hour(parsed)


def _help(key: str) -> str:
    return (
        f"{_shown(key)} is not a report window: use one of {', '.join(PRESETS)}, a duration such as 12h or "
        "14d, or a range 'start,end' of dates (2026-01-01,2026-01-31) or RFC 3339 times."
    )


def parse_window(text: str | None, now: datetime) -> ReportWindow:
    """The window `text` names, ending no later than the end of the current hour."""
    key = (text or DEFAULT_WINDOW).strip()
    if "," in key:
        first, _, last = key.partition(",")
        start, end = _moment(first, end=False), _moment(last, end=True)
        label = f"{first.strip()} to {last.strip()}"
    else:
        start, end = _preset(key, now)
        label = PRESETS.get(key) or f"Last {key}"
    end = min(end, floor_hour(now) + HOUR)
    if end <= start:
        raise WindowError(
            f"The window {_shown(key)} is empty or in the future: its end must come after its start."
        )
    if end - start > MAX_WINDOW:
        raise WindowError(
            f"The window {_shown(key)} is longer than {MAX_WINDOW.days} days; choose a shorter one."
        )
    return ReportWindow(key, label, start, end)


@dataclass(frozen=True, slots=True)
class RollupRanges:
    """[start, end) ranges to read from daily and from hourly rollups."""

    days: tuple[datetime, datetime] | None
    hours: tuple[tuple[datetime, datetime], ...]


def rollup_ranges(start: datetime, end: datetime) -> RollupRanges:
    first_day, last_day = ceil_day(start), floor_day(end)
    if first_day >= last_day:
        return RollupRanges(None, ((start, end),))
    hours = tuple(span for span in ((start, first_day), (last_day, end)) if span[0] < span[1])
    return RollupRanges((first_day, last_day), hours)


def bucket_starts(window: ReportWindow) -> list[datetime]:
    """The start of every chart bucket of the window (hours or UTC days)."""
    width = HOUR if window.step == "hour" else DAY
    moment = window.start if window.step == "hour" else floor_day(window.start)
    starts = []
    while moment < window.end:
        starts.append(moment)
        moment += width
    return starts
