"""Dates of a generated world: days since 1970-01-01 as integers inside the generator, ISO strings in its files."""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np

EPOCH = dt.date(1970, 1, 1)
DAY = 86_400  # seconds


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def months_before(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def to_days(day: dt.date) -> int:
    return (day - EPOCH).days


def days_to_iso(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(days, dtype="int64").astype("datetime64[D]"), unit="D")


def seconds_to_iso(seconds: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(np.asarray(seconds, dtype="int64").astype("datetime64[s]"), unit="s")
    return np.char.add(text, "Z")
