"""The French texts of a world (``parcours world generate --lang fr``): ESCO labels in French, and the French
wording of what the generator writes (training titles and descriptions, declared jobs, diplomas, certifications,
volunteering).

Labels come from the French ESCO files shipped in ``features/esco_data`` (``features.esco_fr``); a concept
without a French label keeps its English one. Preferred labels of occupations are written "masculine/feminine"
("boucher/bouchère"): titles and descriptions keep both forms, as French training offers do, and a holder declares
one of them. ESCO ships no French definitions, so French descriptions name the occupation, a few of its
alternative labels (the words people search with: "cariste", "secrétaire médicale") and the skills taught.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from features.esco_fr import load_french_labels
from training.datasets.world_esco import EscoContext
from training.datasets.world_text import capitalise

LEVEL_NAMES_FR = {
    3: "niveau CAP",
    4: "niveau bac",
    5: "niveau BTS",
    6: "niveau licence",
    7: "niveau master",
    8: "niveau doctorat",
}

# The French labels of world_reference.VOLUNTEERING, in its order.
VOLUNTEERING_FR = (
    "sapeur-pompier volontaire",
    "trésorier d'association",
    "entraîneur de football des jeunes (bénévole, membre du bureau du club)",
    "service civique (8 mois)",
    "réserve militaire opérationnelle",
    "bénévole à la banque alimentaire",
    "bénévole en alphabétisation dans une association de quartier",
)

# The French titles and closing sentences of the anchor trainings (world_reference.ANCHORS), by anchor name and
# in the order of each anchor's trainings.
ANCHOR_TEXTS_FR: dict[str, tuple[tuple[str, str], ...]] = {
    "accounting": (
        ("Paie et fiscalité — certificat", "Paie, bulletins de salaire et déclarations fiscales."),
        (
            "Techniques comptables et tenue de comptabilité — titre professionnel (niveau 5)",
            "Comptabilité en partie double, grand livre et logiciels de comptabilité.",
        ),
        ("Déclarations fiscales et TVA pour comptables", "Impôt sur les sociétés, TVA et impôt sur le revenu."),
        ("États financiers et clôture des comptes", "Bilan, compte de résultat, clôture de l'exercice."),
        ("Gestion de la paie — formation pratique", "Paie mensuelle et déclarations sociales."),
        ("Comptable — titre professionnel (niveau 6)", "Pratique complète de la comptabilité et de la fiscalité."),
    ),
    "stone": (
        (
            "Taille et dressage de la pierre — certificat de tailleur de pierre",
            "Tailler, fendre et dresser des blocs de pierre naturelle.",
        ),
        (
            "Tailleur de pierre — titre professionnel (niveau 3)",
            "Taille de pierre, maçonnerie et restauration.",
        ),
        ("Techniques de fendage de la pierre", "Fendage traditionnel de la pierre aux coins et aux plumes."),
        ("Sculpture et gravure sur pierre", "Sculpter et graver la pierre au ciseau."),
        ("Découpe et polissage de pierre de taille", "Débiter la pierre aux cotes et la polir."),
    ),
    "massage": (
        ("Massage aux pierres chaudes — certificat", "Massage aux pierres de basalte chauffées."),
        (
            "Praticien en massage — techniques de massage bien-être",
            "Massage suédois, aux pierres chaudes et relaxant.",
        ),
        ("Massage aux pierres chaudes et massage profond", "Pierres chaudes associées au travail des tissus profonds."),
        ("Praticien en massage sportif", "Massage des sportifs avant et après l'effort."),
        ("Shiatsu et massage thérapeutique", "Techniques japonaises de pression du shiatsu."),
        (
            "Massage bien-être — titre professionnel (niveau 4)",
            "Pratique complète du massage bien-être.",
        ),
    ),
}

# Job titles: qualifiers people add (world_text.typo_variant, French): before, after, or in capitals.
QUALIFIERS_FR = ("{} confirmé", "{} (temps partiel)", "assistant {}")
PART_TIME_FR = "(temps partiel)"
SELF_EMPLOYED_FR = "(à son compte)"

_FR_STOP_END = {
    "de", "des", "du", "d'", "d’", "la", "le", "les", "l'", "l’", "à", "au", "aux", "en", "et", "ou", "pour",
    "par", "sur", "avec", "dans", "un", "une", "sans",
}
_SLASH = re.compile(r"\s*/\s*")
_VOWELS = frozenset("aeiouyàâäéèêëîïôöùûüœæ")


@dataclass(frozen=True)
class FrenchEsco:
    """French labels by the generator's ESCO indices (``EscoContext``), English where ESCO has no French one."""

    occ_label: list[str]  # preferred label, "masculine/feminine"
    occ_forms: list[tuple[str, ...]]  # the label's gender forms ("boucher", "bouchère"), or the label alone
    occ_alt_labels: list[list[str]]
    skill_title: list[str]
    skill_title_clean: np.ndarray


def gender_forms(label: str) -> tuple[str, ...]:
    """"boucher/bouchère" → ("boucher", "bouchère"); a label without one slash is its own only form."""
    parts = [p.strip() for p in _SLASH.split(label)]
    return tuple(parts) if len(parts) == 2 and all(parts) else (label,)


def is_clean_french_title_label(text: str) -> bool:
    """Short enough for a training title and not ending on a preposition or an article."""
    words = text.split()
    return 1 <= len(words) <= 7 and words[-1].lower() not in _FR_STOP_END and len(text) <= 55


_CACHE: dict[int, tuple[EscoContext, FrenchEsco]] = {}


def french_esco(esco: EscoContext) -> FrenchEsco:
    """The French labels of ``esco`` (built once per ESCO context: the generator's is loaded once)."""
    kept = _CACHE.get(id(esco))
    if kept is None or kept[0] is not esco:
        kept = (esco, _build(esco))
        _CACHE[id(esco)] = kept
    return kept[1]


def _build(esco: EscoContext) -> FrenchEsco:
    occ = load_french_labels("occupation")
    skills = load_french_labels("skill")
    occ_label = [occ.preferred.get(str(u), en) for u, en in zip(esco.occ_uris, esco.occ_label, strict=True)]
    occ_alt = [
        occ.alternatives.get(str(u), []) if str(u) in occ.preferred else list(en)
        for u, en in zip(esco.occ_uris, esco.occ_alt_labels, strict=True)
    ]
    skill_title: list[str] = []
    clean: list[bool] = []
    for u, en in zip(esco.skill_uris, esco.skill_title, strict=True):
        label = skills.preferred.get(str(u))
        if label is None:  # no French label: the English one, never in a title
            skill_title.append(en)
            clean.append(False)
        else:
            label = " ".join(label.replace("’", "'").replace("' ", "'").split())
            skill_title.append(label)
            clean.append(is_clean_french_title_label(label))
    return FrenchEsco(
        occ_label=occ_label,
        occ_forms=[gender_forms(label) for label in occ_label],
        occ_alt_labels=occ_alt,
        skill_title=skill_title,
        skill_title_clean=np.array(clean, dtype=bool),
    )


def occupation_title(label: str) -> str:
    """An occupation as a training title names it: both forms when short, the masculine one otherwise
    ("conducteur de machines de fabrication de produits textiles")."""
    forms = gender_forms(label)
    return label if len(label) <= 45 or len(forms) == 1 else forms[0]


def of(noun: str) -> str:
    """"de" before ``noun``, elided before a vowel ("métier d'infirmier", "métier de soudeur")."""
    return f"d'{noun}" if noun[:1].lower() in _VOWELS else f"de {noun}"


def training_title(rng: np.random.Generator, occ_label: str, s1: str, s2: str, level: int) -> str:
    """A French training title from the focus occupation and one or two skills taught."""
    occ = occupation_title(occ_label)
    pair = f"{s1} et {s2}" if s2 else s1
    templates: tuple[str, ...]
    if level:
        templates = (
            f"Titre professionnel {occ} (niveau {level})",
            f"{capitalise(occ)} : {pair}",
            f"Devenir {occ} — {LEVEL_NAMES_FR[level]}",
            f"{capitalise(pair)} — diplôme {LEVEL_NAMES_FR[level]}",
            f"Certification professionnelle {occ} (niveau {level})",
            f"Formation {occ} : {s1}",
        )
    else:
        templates = (
            f"{capitalise(s1)} — certificat de compétences",
            f"Certificat : {s1}",
            f"{capitalise(pair)} — formation courte",
            f"{capitalise(s1)} : formation pratique au métier {of(occ)}",
            f"Bloc de compétences : {s1}",
        )
    return templates[int(rng.integers(0, len(templates)))]


def training_description(
    rng: np.random.Generator,
    *,
    occ_label: str,
    occ_alt_labels: list[str],
    code: str,
    level: int,
    phrases: list[str],
    prerequisites: list[str],
    extra: str,
    hours: int,
    modality: str,
    city: str,
    region: str,
) -> str:
    """A French description: the certification, the occupation and its other names, the programme, the
    prerequisites, the hours and where."""
    kind = (
        f"une certification professionnelle inscrite au RNCP, de niveau {level}"
        if code.startswith("RNCP")
        else "une certification inscrite au répertoire spécifique"
    )
    intros = (
        f"Cette formation prépare à {kind} ({code}) et au métier {of(occ_label)}.",
        f"Une formation certifiante ({code}) pour les personnes qui exercent, ou veulent exercer, le métier "
        f"{of(occ_label)}.",
        f"Enregistrée par France Compétences sous le code {code} : {kind}. Métier visé : {occ_label}.",
    )
    forms = {f.lower() for f in gender_forms(occ_label)}
    others = [a for a in occ_alt_labels if a.lower() not in forms and len(a) <= 60][:3]
    parts = [intros[int(rng.integers(0, len(intros)))]]
    if others:
        parts.append(f"Appellations proches : {', '.join(others)}.")
    parts.append(f"Au programme : {' ; '.join(phrases[:4]) if phrases else occ_label}.")
    if extra:
        parts.append(extra)
    if prerequisites:
        parts.append(f"Prérequis : {', '.join(prerequisites)}.")
    where = {
        "onsite": f"en présentiel à {city} ({region})",
        "remote": "entièrement à distance",
        "hybrid": f"en formule mixte : à distance et en présentiel à {city}",
    }[modality]
    parts.append(f"{hours} heures, {where}.")
    return " ".join(parts)


def job_label(rng: np.random.Generator, forms: tuple[str, ...]) -> str:
    """One gender form of an occupation's preferred label, as a holder declares their job."""
    return forms[int(rng.integers(0, len(forms)))]


def diploma_name(name: str) -> str:
    """"BTS (level 5)" → "BTS (niveau 5)"; "Doctorate (level 8)" → "Doctorat (niveau 8)"."""
    return name.replace("(level", "(niveau").replace("Doctorate", "Doctorat")


def certification_label(kind: int, title: str, code: int) -> str:
    """A certification as a holder declares it (``kind`` picks the wording, as in the English world)."""
    return (f"{capitalise(title)} — certificat", f"Certification : {title}", f"RS{code} {title}")[kind]


def volunteering_label(index: int, hours: int) -> str:
    return f"{capitalise(VOLUNTEERING_FR[index])}, environ {hours} h par an"
