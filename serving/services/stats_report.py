"""The statistics report (``parcours stats report --out DIR``): every indicator by every dimension, published
under the small-cell rule, as a static French HTML page with PNG charts, plus the same tables as JSON and CSV.

Written files: ``index.html``; ``graphiques/<indicator>.png`` (the indicator by month, matplotlib's Agg canvas,
no display needed); ``statistiques.json`` (every table, as the API answers it); ``csv/<indicator>_par_<by>.csv``
(formula-like cells neutralised, as the API's ``format=csv``). Only published figures are written anywhere:
the tables come from ``serving.services.statistics`` already suppressed, so the report cannot show more than
the API.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sqlalchemy.orm import Session

from parcours.domain.disclosure import THRESHOLD
from serving.services.statistics import (
    BY,
    INDICATORS,
    Cell,
    CrossTable,
    Indicator,
    Table,
    cross_table,
    statistics_table,
    table_csv,
)

SECRET = "s"  # how a suppressed figure is shown (« secret statistique »)
BY_TITLES = {
    "month": "mois", "region": "région", "certification": "certification", "age_band": "tranche d'âge",
    "employment_status": "situation professionnelle", "qualification_level": "niveau de qualification",
}
KEY_TITLES = {
    "employee": "salarié", "job_seeker": "demandeur d'emploi", "self_employed": "indépendant",
    "unknown": "non renseigné", "total": "Total", "<25": "moins de 25 ans", "25-34": "25 à 34 ans",
    "35-44": "35 à 44 ans", "45-54": "45 à 54 ans", "55+": "55 ans et plus",
}
NOTES = {
    "files": "Dossiers de formation, rattachés au mois de leur ouverture.",
    "money": "Montant réservé pour le dossier, diminué de ce qui est revenu à sa source (annulation, part non "
             "consommée après le paiement) : le montant payé à l'organisme pour un dossier payé, le montant "
             "réservé pour un dossier en cours. Rattaché au mois d'ouverture du dossier.",
    "impressions": "Formations affichées dans les suggestions du service ; « suivie » : consultée ou choisie "
                   "ensuite par le titulaire. Rattachées au mois de l'affichage.",
}
CROSS = ("enrolments", "region", "age_band")


@dataclass(frozen=True)
class ReportSummary:
    folder: Path
    tables: int
    charts: int

    def __str__(self) -> str:
        return f"report written to {self.folder}: {self.tables} tables, {self.charts} charts (index.html)"


def write_report(session: Session, out: Path, *, now: dt.datetime | None = None) -> ReportSummary:
    """Compute every published table and write the report into ``out`` (created; files overwritten)."""
    now = now or dt.datetime.now(dt.UTC)
    (out / "graphiques").mkdir(parents=True, exist_ok=True)
    (out / "csv").mkdir(exist_ok=True)
    tables = {(name, by): statistics_table(session, name, by) for name in INDICATORS for by in BY}
    cross = cross_table(session, *CROSS)
    for (name, by), table in tables.items():
        (out / "csv" / f"{name}_par_{by}.csv").write_text(table_csv(table), encoding="utf-8")
    payload = {
        "generated_at": now.isoformat(timespec="seconds"),
        "threshold": THRESHOLD,
        "tables": [table.as_dict() for table in tables.values()],
    }
    (out / "statistiques.json").write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    for name, spec in INDICATORS.items():
        _chart(spec, tables[(name, "month")], out / "graphiques" / f"{name}.png")
    (out / "index.html").write_text(_page(tables, cross, now), encoding="utf-8")
    return ReportSummary(out, len(tables), len(INDICATORS))


# --- figures in French --------------------------------------------------------------------------------------


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", "\u202f")


def format_value(spec: Indicator, value: int | float | None) -> str:
    if value is None:
        return "–"
    if spec.kind == "cents":
        sign, cents = ("-" if value < 0 else ""), abs(int(value))
        euros, rest = divmod(cents, 100)
        return f"{sign}{_thousands(euros)},{rest:02d}\u00a0€"
    if spec.kind == "rate":
        return f"{value:.1f}".replace(".", ",") + "\u00a0%"
    return _thousands(int(value))


def _shown(spec: Indicator, cell: Cell) -> tuple[str, str]:
    if cell.suppressed:
        return SECRET, SECRET
    return _thousands(cell.holders or 0), format_value(spec, cell.value)


def _frame(table: Table) -> pd.DataFrame:
    rows = [(KEY_TITLES.get(c.key, c.key), *_shown(table.indicator, c)) for c in [*table.cells, table.total]]
    return pd.DataFrame(rows, columns=[BY_TITLES[table.by].capitalize(), "Titulaires", table.indicator.unit])


def _cross_frame(cross: CrossTable) -> pd.DataFrame:
    row_keys, column_keys = sorted(cross.rows), sorted(cross.columns, key=_band_order)
    empty = Cell("", 0, 0, False)
    data = {
        KEY_TITLES.get(c, c): [_shown(cross.indicator, cross.cells.get((r, c), empty))[0] for r in row_keys]
        + [_shown(cross.indicator, cross.columns[c])[0]]
        for c in column_keys
    }
    data["Total"] = [_shown(cross.indicator, cross.rows[r])[0] for r in row_keys]
    data["Total"] += [_shown(cross.indicator, cross.total)[0]]
    frame = pd.DataFrame(data, index=[*row_keys, "Total"])
    frame.index.name = BY_TITLES[cross.rows_by].capitalize()
    return frame


def _band_order(key: str) -> int:
    order = ["<25", "25-34", "35-44", "45-54", "55+"]
    return order.index(key) if key in order else len(order)


def _chart(spec: Indicator, table: Table, path: Path) -> None:
    """Bars by month; a suppressed month is an empty hatched bar marked « s »."""
    figure = Figure(figsize=(8, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    keys = [cell.key for cell in table.cells]
    scale = 100 if spec.kind == "cents" else 1
    values = [0.0 if c.suppressed or c.value is None else float(c.value) / scale for c in table.cells]
    if keys:
        top = max(values) if any(values) else 1.0
        bars = axes.bar(keys, values, color="#3a6ea5")
        for bar, cell in zip(bars, table.cells, strict=True):
            if cell.suppressed:
                bar.set_height(top * 0.04)
                bar.set_color("white")
                bar.set_edgecolor("#888888")
                bar.set_hatch("//")
                axes.annotate(SECRET, (bar.get_x() + bar.get_width() / 2, top * 0.05), ha="center", fontsize=8)
        axes.set_ylim(bottom=0, top=top * 1.1)
        axes.tick_params(axis="x", labelrotation=60, labelsize=7)
    else:
        axes.text(0.5, 0.5, "Aucune donnée", ha="center", va="center", transform=axes.transAxes)
        axes.set_xticks([])
    axes.set_title(f"{spec.title}, par mois", fontsize=10)
    axes.set_ylabel("euros" if spec.kind == "cents" else spec.unit, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="png")


# --- the page -----------------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
details { margin-bottom: 0.5rem; } .note { background: #f4f6f8; padding: 0.8rem 1rem; border-radius: 4px; }
"""


def _method() -> str:
    return f"""
<section class="note" id="methode">
<h2>Méthode</h2>
<p>Chaque case compte des <strong>titulaires distincts</strong>. Aucune case publiée ne compte entre 1 et
{THRESHOLD - 1} titulaires (secret statistique, seuil de {THRESHOLD}) : une telle case est masquée (secret
primaire), de même que les cases qui permettraient de la retrouver par différence avec le total ou les totaux
de ligne et de colonne (secret secondaire : la plus petite case publiée de la même ligne, de la même colonne ou
du même total, jusqu'à ce qu'aucune soustraction ni combinaison des marges ne révèle une case masquée). Les
montants et les taux d'une case masquée sont masqués avec elle ; un taux d'annulation est aussi masqué quand
moins de {THRESHOLD} titulaires ont annulé. Une case masquée est notée « {SECRET} ».</p>
<p>Référence : A. Hundepool et al., <em>Statistical Disclosure Control</em>, Wiley, 2012, chapitres 4 (secret
secondaire dans les tableaux avec marges) et 5 (tableaux de fréquences, règle de seuil). Un titulaire peut
figurer dans plusieurs mois ou certifications : le total compte alors moins de titulaires que la somme des
cases. La région, la situation professionnelle et le niveau de qualification sont ceux connus aujourd'hui ;
l'âge est celui atteint dans l'année du dossier ou de l'affichage. Montants en euros (centimes exacts).</p>
</section>"""


def _page(tables: dict[tuple[str, str], Table], cross: CrossTable, now: dt.datetime) -> str:
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="fr"><head><meta charset="utf-8">',
        "<title>Statistiques d'usage du CPF</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Statistiques d'usage du CPF</h1>",
        f"<p>Compte personnel de formation : usage du service et du dispositif (article R6323-33 du code du "
        f"travail, finalité 5). Produit le {esc(now.strftime('%d/%m/%Y à %H:%M'))} UTC. Données : "
        '<a href="statistiques.json">statistiques.json</a>, un fichier CSV par tableau dans '
        '<a href="csv/">csv/</a>.</p>',
        "<h2>Sommaire</h2><ul>",
        *[f'<li><a href="#{name}">{esc(spec.title)}</a></li>' for name, spec in INDICATORS.items()],
        f'<li><a href="#croise">{esc(INDICATORS[CROSS[0]].title)} par région et tranche d\'âge</a></li>',
        '<li><a href="#methode">Méthode</a></li></ul>',
    ]
    for name, spec in INDICATORS.items():
        parts += [
            f'<h2 id="{name}">{esc(spec.title)}</h2>',
            f"<p>{esc(NOTES[spec.source])} Unité : {esc(spec.unit)}.</p>",
            f'<img src="graphiques/{name}.png" alt="{esc(spec.title)} par mois" width="800">',
        ]
        for by in BY:
            frame = _frame(tables[(name, by)])
            parts += [
                f"<details{' open' if by == 'region' else ''}><summary>Par {esc(BY_TITLES[by])}</summary>",
                frame.to_html(index=False, escape=True, border=0),
                "</details>",
            ]
    parts += [
        f'<h2 id="croise">{esc(cross.indicator.title)} : titulaires par région et tranche d\'âge</h2>',
        "<p>Tableau à double entrée avec ses marges : le secret secondaire y est posé sur les lignes et les "
        "colonnes à la fois.</p>",
        _cross_frame(cross).to_html(escape=True, border=0),
        _method(),
        "</body></html>",
    ]
    return "\n".join(parts)

