"""Standard cron schedules (five fields, ``*``, ``a-b``, ``*/n``, lists, month and weekday names,
and the ``@hourly``-style macros), as the CronJob controller reads ``spec.schedule``; times in UTC
(``spec.timeZone`` is not modelled)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_NAMES = {
    3: {
        m: i + 1
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    4: {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
# A schedule matching nothing for this long (e.g. February 30th) is refused by the search.
_SEARCH_LIMIT_MINUTES = 5 * 366 * 24 * 60


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    fields: tuple[frozenset[int], ...]

    def matches(self, moment: datetime) -> bool:
        minute, hour, day, month, weekday = self.fields
        return (
            moment.minute in minute
            and moment.hour in hour
            and moment.day in day
            and moment.month in month
            and moment.isoweekday() % 7 in weekday
        )

    def next_after(self, epoch_seconds: float) -> float:
        """The first matching minute strictly after ``epoch_seconds``."""
        moment = datetime.fromtimestamp(epoch_seconds, UTC).replace(second=0, microsecond=0)
        for _ in range(_SEARCH_LIMIT_MINUTES):
            moment += timedelta(minutes=1)
            if self.matches(moment):
                return moment.timestamp()
        raise CronError("the schedule never fires")


def _field(text: str, index: int) -> frozenset[int]:
    low, high = _RANGES[index]
    names = _NAMES.get(index, {})
    values: set[int] = set()

    def number(part: str) -> int:
        value = names.get(part.lower()) if part.lower() in names else None
        if value is None:
            if not part.isdigit():
                raise CronError(f"{part!r} is not a number")
            value = int(part)
        if index == 4 and value == 7:
            value = 0
        if not low <= value <= high:
            raise CronError(f"{value} is out of range {low}-{high}")
        return value

    for item in text.split(","):
        step = 1
        if "/" in item:
            item, step_text = item.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"bad step {step_text!r}")
            step = int(step_text)
        if item in ("*", "?"):
            start, end = low, high
        elif "-" in item:
            first, last = item.split("-", 1)
            start, end = number(first), number(last)
        else:
            start = number(item)
            end = high if step > 1 else start
        if start > end:
            raise CronError(f"range {item!r} runs backwards")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_schedule(text: str) -> Schedule:
    text = MACROS.get(text.strip(), text.strip())
    parts = text.split()
    if len(parts) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(parts)}: {text}")
    return Schedule(tuple(_field(part, index) for index, part in enumerate(parts)))
