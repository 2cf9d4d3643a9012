"""Reference data of a generated world: modalities and employment statuses, France's regions, qualification
levels and diplomas, volunteering, the parts of provider names and the hand-written anchor clusters."""

from __future__ import annotations

from dataclasses import dataclass

from parcours.domain.regions import REGION_NAMES

MODALITIES = ("onsite", "remote", "hybrid")
EMPLOYMENT_STATUSES = ("employee", "job_seeker", "self_employed")


# --- France -------------------------------------------------------------------------------------------------

# Population weight (millions) and a few cities for provider names, by INSEE region code (names: the domain's).
_DEMOGRAPHY: dict[str, tuple[float, tuple[str, ...]]] = {
    "01": (0.38, ("Pointe-à-Pitre", "Basse-Terre")),
    "02": (0.36, ("Fort-de-France",)),
    "03": (0.29, ("Cayenne",)),
    "04": (0.87, ("Saint-Denis", "Saint-Pierre")),
    "06": (0.3, ("Mamoudzou",)),
    "11": (12.3, ("Paris", "Versailles", "Créteil", "Nanterre", "Saint-Denis", "Évry")),
    "24": (2.6, ("Orléans", "Tours", "Bourges", "Chartres")),
    "27": (2.8, ("Dijon", "Besançon", "Auxerre", "Mâcon")),
    "28": (3.3, ("Rouen", "Caen", "Le Havre", "Cherbourg")),
    "32": (6.0, ("Lille", "Amiens", "Arras", "Roubaix", "Beauvais")),
    "44": (5.5, ("Strasbourg", "Reims", "Metz", "Nancy", "Mulhouse")),
    "52": (3.8, ("Nantes", "Angers", "Le Mans", "La Roche-sur-Yon")),
    "53": (3.4, ("Rennes", "Brest", "Vannes", "Lorient", "Quimper")),
    "75": (6.0, ("Bordeaux", "Limoges", "Poitiers", "Pau", "La Rochelle")),
    "76": (5.9, ("Toulouse", "Montpellier", "Nîmes", "Perpignan", "Albi")),
    "84": (8.0, ("Lyon", "Grenoble", "Clermont-Ferrand", "Saint-Étienne", "Annecy")),
    "93": (5.1, ("Marseille", "Nice", "Toulon", "Avignon", "Aix-en-Provence")),
    "94": (0.34, ("Ajaccio", "Bastia")),
}
REGIONS: tuple[tuple[str, str, float, tuple[str, ...]], ...] = tuple(
    (code, REGION_NAMES[code], weight, cities) for code, (weight, cities) in _DEMOGRAPHY.items()
)
REGION_CODES = tuple(r[0] for r in REGIONS)

QUALIFICATION_LEVELS = (0, 3, 4, 5, 6, 7, 8)  # 0: no level-3 qualification (empty in holders.csv)
QUALIFICATION_SHARES = (0.10, 0.18, 0.22, 0.18, 0.15, 0.13, 0.04)
EDUCATION_END_AGE = {0: 17, 3: 18, 4: 19, 5: 21, 6: 22, 7: 24, 8: 28}
DIPLOMA_NAMES = {
    3: ("CAP (level 3)", "BEP (level 3)"),
    4: ("Baccalauréat professionnel (level 4)", "Brevet professionnel (level 4)"),
    5: ("BTS (level 5)", "DUT (level 5)"),
    6: ("Licence professionnelle (level 6)", "BUT (level 6)", "Bachelor (level 6)"),
    7: ("Master (level 7)", "Diplôme d'ingénieur (level 7)"),
    8: ("Doctorate (level 8)",),
}
LEVEL_NAMES = {
    3: "CAP level",
    4: "baccalaureate level",
    5: "BTS level",
    6: "bachelor level",
    7: "master level",
    8: "doctorate level",
}

# Volunteering: (label, CEC-eligible, hours a year, ESCO skill text prefix or "").
VOLUNTEERING = (
    ("volunteer firefighter", True, 300, "provide first aid"),
    ("association treasurer", True, 220, "manage budgets"),
    ("youth football coach (volunteer, club board member)", True, 240, "coach young"),
    ("civic service (service civique, 8 months)", True, 900, ""),
    ("operational military reserve", True, 400, ""),
    ("food bank volunteer", False, 60, ""),
    ("literacy tutor at a neighbourhood association", False, 80, ""),
)

PROVIDER_PREFIXES = (
    "Institut",
    "Académie",
    "Centre de formation",
    "École",
    "Campus",
    "Atelier",
    "Cabinet",
    "Groupe",
    "Organisme",
    "Maison de la formation",
)
PROVIDER_CORES = (
    "Avenir",
    "Horizon",
    "Compétences",
    "Talents",
    "Métiers",
    "Savoirs",
    "Pro",
    "Évolution",
    "Transitions",
    "Perspectives",
    "Cap",
    "Trajectoires",
    "Formations",
    "Qualifications",
)
FAMILY_NAMES = (
    "Dupont",
    "Martin",
    "Bernard",
    "Moreau",
    "Laurent",
    "Lefebvre",
    "Garnier",
    "Rousseau",
    "Fontaine",
    "Chevalier",
    "Mercier",
    "Blanc",
    "Guérin",
    "Faure",
    "Girard",
    "Bonnet",
    "Lambert",
    "Fournier",
    "Morel",
    "Robin",
    "Petit",
    "Durand",
    "Leroy",
    "Roux",
    "Vincent",
    "Muller",
)


# --- Anchor clusters: trainings that search tests look for ------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """Hand-written trainings of a cluster; ESCO concepts are found by the start of their text."""

    name: str
    occupations: tuple[str, ...]  # text prefixes of ESCO occupations
    skills: tuple[str, ...]  # text prefixes of ESCO skills the cluster teaches
    trainings: tuple[tuple[str, tuple[int, ...], str], ...]  # (title, indices into skills, extra sentence)
    level: int | None = None


ANCHORS: tuple[Anchor, ...] = (
    Anchor(
        "accounting",
        ("accountant ", "payroll clerk ", "bookkeeper "),
        (
            "manage payroll",
            "prepare tax returns forms",
            "tax legislation",
            "accounting techniques",
            "accounting bookkeeping",
            "prepare financial statements",
            "use accounting systems",
        ),
        (
            (
                "Payroll and tax accounting — certificate",
                (0, 1, 2),
                "Covers payroll, payslips and tax returns.",
            ),
            (
                "Accounting techniques and bookkeeping — professional title (level 5)",
                (3, 4, 6),
                "Double-entry bookkeeping, ledgers and accounting software.",
            ),
            ("Tax returns and VAT for accountants", (1, 2, 3), "Corporate tax, VAT and income tax returns."),
            (
                "Financial statements and year-end closing",
                (5, 3, 4),
                "Balance sheet, income statement, closing.",
            ),
            (
                "Payroll management — practical training",
                (0, 6),
                "Monthly payroll run and social declarations.",
            ),
            ("Accountant — professional title (level 6)", (3, 5, 2, 0), "Full accounting and tax practice."),
        ),
        level=5,
    ),
    Anchor(
        "stone",
        ("stonemason ", "stone engraver ", "stone splitter "),
        (
            "use stone splitting techniques",
            "dimension stone",
            "polish stone",
            "use pneumatic chisel",
            "prepare stone for smoothing",
            "inspect stone surface",
            "types of stone for working",
        ),
        (
            (
                "Stone cutting and dressing — stonemason certificate",
                (0, 1, 3),
                "Cut, split and dress natural stone blocks.",
            ),
            (
                "Stonemason — professional title (level 3)",
                (1, 0, 6, 2),
                "Stone cutting, masonry and restoration.",
            ),
            ("Stone splitting techniques", (0, 5), "Traditional stone splitting with wedges and feathers."),
            ("Stone carving and engraving", (3, 2, 4), "Carve and engrave stone with chisels."),
            ("Dimension stone cutting and polishing", (1, 2, 4), "Cut stone to dimension and polish it."),
        ),
        level=3,
    ),
    Anchor(
        "massage",
        ("masseur/masseuse ", "massage therapist "),
        (
            "massage types",
            "give massages",
            "apply massage therapy",
            "therapeutic massage",
            "apply deep tissue massage",
            "apply sports massage",
            "give shiatsu massages",
            "apply massage oil",
        ),
        (
            ("Hot-stone massage — certificate", (0, 1, 7), "Hot stone massage with heated basalt stones."),
            (
                "Massage therapist — wellness massage techniques",
                (1, 2, 0),
                "Swedish, hot-stone and relaxing massage.",
            ),
            ("Hot-stone and deep tissue massage", (0, 4, 1), "Hot stones combined with deep tissue work."),
            ("Sports massage practitioner", (5, 3, 1), "Massage for athletes before and after effort."),
            ("Shiatsu and therapeutic massage", (6, 3), "Japanese shiatsu pressure techniques."),
            (
                "Wellness massage — professional title (level 4)",
                (2, 1, 0, 7),
                "Full wellness massage practice.",
            ),
        ),
        level=4,
    ),
)
