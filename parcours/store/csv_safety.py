"""CSV cells that a spreadsheet would not run: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is a formula to Excel, LibreOffice and Google Sheets (CSV injection, e.g. ``=HYPERLINK(…)``), so
every CSV Parcours writes for people passes its cells through ``neutralise_cell``, which prefixes such a cell with
an apostrophe (OWASP's recommendation; the apostrophe shows the cell as text). Numbers are left as they are.

The importer stores what a world file says (a training title may start with ``=``); exports are where it is made
harmless. Used by the payment remittances and the statistics export.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """``value`` with an apostrophe before it when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_row(row: Mapping[str, object]) -> dict[str, object]:
    return {key: neutralise_cell(value) for key, value in row.items()}


def safe_csv(columns: Sequence[str], rows: Iterable[Mapping[str, object]], *, lineterminator: str = "\n") -> str:
    """The CSV text (header, then one line per row) with every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator=lineterminator)
    writer.writerow({c: neutralise_cell(c) for c in columns})
    writer.writerows(neutralise_row(row) for row in rows)
    return buffer.getvalue()
