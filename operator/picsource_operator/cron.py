"""Five-field cron expressions (minute hour day-of-month month day-of-week), in UTC.

Why our own: the operator needs only `next_after` for `spec.backup.schedule`, and a
dependency for forty lines is not worth an image layer. The dialect is the classic one:
``*``, numbers, ranges ``a-b``, lists ``a,b`` and steps ``*/n`` or ``a-b/n``; day of week
0-7 with 0 and 7 both Sunday; when both day fields are restricted a day matching either
one matches (as in Vixie cron). Names (``MON``, ``JAN``) and ``@daily`` shortcuts are not
accepted: the CRD's pattern and `parse` say so at once instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

#: (lowest, highest) of each field.
FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
NAMES = ("minute", "hour", "day of month", "month", "day of week")
#: How far ahead `next_after` looks before deciding an expression never fires (Feb 30th).
HORIZON_DAYS = 366 * 5


class CronError(ValueError):
    """An expression that is not five valid cron fields; the message names the field."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is *
    any_weekday: bool  # day of week is *

    def day_matches(self, when: datetime) -> bool:
        if when.month not in self.months:
            return False
        by_day, by_weekday = when.day in self.days, (when.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday


def _field(text: str, index: int) -> frozenset[int]:
    low, high = FIELDS[index]
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if body == "*":
                start, end = low, high
            elif "-" in body:
                start, end = (int(x) for x in body.split("-", 1))
            else:
                start = end = int(body)
        except ValueError:
            raise CronError(f"the {NAMES[index]} field {text!r} is not a number, range, list or step") from None
        if step < 1 or not low <= start <= end <= high:
            raise CronError(f"the {NAMES[index]} field {text!r} must stay within {low}-{high}")
        values.update(range(start, end + 1, step))
    if index == 4 and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


def parse(expression: str) -> Cron:
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(f"{expression!r} must have five fields: minute hour day-of-month month day-of-week")
    minutes, hours, days, months, weekdays = (_field(text, i) for i, text in enumerate(fields))
    return Cron(minutes, hours, days, months, weekdays, any_day=fields[2] == "*", any_weekday=fields[4] == "*")


def next_after(expression: str | Cron, after: datetime) -> datetime:
    """The first time strictly after ``after`` (to the minute) at which the expression fires."""
    cron = parse(expression) if isinstance(expression, str) else expression
    start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(HORIZON_DAYS):
        if cron.day_matches(day):
            for hour in sorted(cron.hours):
                for minute in sorted(cron.minutes):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate >= start:
                        return candidate
        day += timedelta(days=1)
    raise CronError(f"the schedule never fires within {HORIZON_DAYS // 366} years")
