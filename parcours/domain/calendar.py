"""The business date: the day every transition, deadline and recommendation is dated by.

It is the calendar's today, unless ``PARCOURS_BUSINESS_DATE`` fixes it (``Settings.business_date``), which is for
demos and tests only: a demo world's files and sessions are dated around the world's ``as_of``, and a fixed date
lets the walk from request to payment run on it. Settings are cached (``get_settings``): a test that sets the
variable calls ``get_settings.cache_clear()`` before and after.
"""

from __future__ import annotations

import datetime as dt

from parcours.settings import Settings, get_settings


def business_today(settings: Settings | None = None) -> dt.date:
    """``PARCOURS_BUSINESS_DATE`` if set (demos and tests), else the calendar's today."""
    fixed = (settings or get_settings()).business_date
    return fixed if fixed is not None else dt.date.today()


def fixed_business_date(settings: Settings | None = None) -> dt.date | None:
    """The business date the settings fix, None when the calendar's today applies (what /health reports)."""
    return (settings or get_settings()).business_date
