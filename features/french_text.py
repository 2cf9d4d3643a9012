"""Normalisation of short French (and English) labels: job titles, skills, training titles.

``normalise(text)`` returns the text as matchers compare it: lower case, accents folded, gender marks and
feminine endings removed (the masculine form is kept), elisions cut, punctuation dropped, stop words out and
plurals reduced, e.g.

    "Boucher / Bouchère (H/F)"          → "boucher"
    "Aide-soignant(e)"                  → "aide soignant"
    "vendeur·euse en boulangerie"       → "vendeur boulangerie"
    "Technicien d'études (h/f/x)"       → "technicien etude"
    "directeur technique/directrice technique" → "directeur technique"

It is applied in the same way to queries and to the labels they are compared with, so what matters is that
both sides meet, not that the result is good French (``travaux`` becomes ``traval``). Cases:
``tests/test_french_text.py``. Pure functions, no data files, no model.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# "(h/f)", "H/F", "(f/h)", "(h/f/x)", "(h/f:x)", "m/f/x", "(m/w/d)", "(H-F)", "(F/H/X)"
_GENDER_MARK = re.compile(
    r"\(?\s*\b[hfmw]\s*[/\-:|]\s*[hfmw](?:\s*[/\-:|]\s*[xdn])?\b\s*\)?", re.IGNORECASE
)
# Feminine endings written in brackets right after the word: "aide-soignant(e)", "boucher(ère)", "agent(e)s".
_BRACKET_ENDING = re.compile(
    r"(?<=\w)\((?:e|es|s|x|ère|ere|euse|euses|rice|trice|ne|nne|le|lle|te|se|sse|ve|ive|ée)\)"
)
# Inclusive writing: "vendeur·euse", "salarié·e·s", "étudiant.e.s", "vendeur•se".
_DOT_ENDING = re.compile(r"(?<=\w)[·•⋅.](?:e|es|s|ère|ere|euse|euses|rice|trice|ne|nne|le|lle|te|se|sse|ve|ive)"
                         r"(?:[·•⋅.]s)?\b")
# Hyphenated feminine endings: "boucher-ère", "vendeur-euse", "technicien-ne" (not compounds: "aide-soignant").
_HYPHEN_ENDING = re.compile(r"(?<=\w)-(?:e|es|ère|ere|euse|rice|trice|ne|nne|lle|sse|ive)\b")
_SLASH = re.compile(r"\s*/\s*")
_ELISION = re.compile(r"\b(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu)'")
_NON_WORD = re.compile(r"[^a-z0-9+#]+")

_FRENCH_STOP_WORDS = (
    "a au aux avec ce ces chez dans de des du en et l la le les leur leurs ou par pour sans sous sur un une"
)
_ENGLISH_STOP_WORDS = "an and at by for from in of on or the to with"
STOP_WORDS = frozenset(f"{_FRENCH_STOP_WORDS} {_ENGLISH_STOP_WORDS}".split())


def fold(text: str) -> str:
    """Lower case with accents and ligatures folded to ASCII letters ("Œuvre Éléphant" → "oeuvre elephant")."""
    text = str(text).lower().replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def is_gender_variant(first: str, second: str) -> bool:
    """Whether two words are the masculine and feminine forms of one noun ("boucher"/"bouchère",
    "directeur"/"directrice", "acteur"/"actrice", "technicien"/"technicienne"), or the same word."""
    a, b = fold(first).strip(), fold(second).strip()
    if not a or not b:
        return False
    if a == b:
        return True
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        shared += 1
    return shared >= 3 and shared >= min(len(a), len(b)) - 3


def _drop_feminine_halves(text: str) -> str:
    """"boucher / bouchère" → "boucher"; "directeur technique/directrice technique" → "directeur technique";
    "serveur/serveuse en salle" → "serveur en salle"; other slashes become spaces ("plombier/chauffagiste")."""
    if "/" not in text:
        return text
    parts = _SLASH.split(text)
    if len(parts) == 2:
        left, right = re.split(r"[\s\-]+", parts[0].strip()), re.split(r"[\s\-]+", parts[1].strip())
        if left[0] and len(left) == len(right) and all(
            is_gender_variant(x, y) for x, y in zip(left, right, strict=True)
        ):
            return parts[0]
    words = _SLASH.split(text)
    out = [words[0]]
    for word in words[1:]:
        before = out[-1].rsplit(" ", 1)[-1].rsplit("-", 1)[-1]
        after = word.split(" ", 1)
        after_first = after[0].split("-", 1)[0]
        if before and after_first and is_gender_variant(before, after_first):
            out.append(" " + (after[1] if len(after) > 1 else ""))
        else:
            out.append(" " + word)
    return "".join(out)


def strip_gender(text: str) -> str:
    """Remove gender marks and feminine forms, keeping the masculine form (the text is only lower-cased)."""
    text = unicodedata.normalize("NFKC", str(text)).replace("’", "'").replace("‘", "'").lower()
    text = _GENDER_MARK.sub(" ", text)
    text = _BRACKET_ENDING.sub("", text)
    text = _DOT_ENDING.sub("", text)
    text = _HYPHEN_ENDING.sub("", text)
    text = _drop_feminine_halves(text)
    return " ".join(text.split())


def singular(word: str) -> str:
    """A crude singular, the same for queries and labels: "comptables" → "comptable", "travaux" → "traval",
    "bureaux" → "bureau", "cheveux" → "cheveu"; short words and "-ss"/"-us"/"-is" endings are kept."""
    if len(word) <= 3:
        return word
    if word.endswith("aux") and len(word) > 4:
        return word[:-3] + ("au" if word.endswith("eaux") else "al")
    if word.endswith(("eux", "oux")) and len(word) > 4:
        return word[:-1]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@lru_cache(maxsize=262_144)
def normalise(text: str) -> str:
    """The text as the matchers compare it (see the module's docstring); "" when nothing is left."""
    text = fold(strip_gender(text))
    text = _ELISION.sub(" ", text)
    words = (singular(w) for w in _NON_WORD.sub(" ", text).split() if w not in STOP_WORDS)
    return " ".join(w for w in words if w)


def drop_gender_marks(text: str) -> str:
    """Only the gender marks removed ("Comptable (H/F)" → "Comptable "); case and accents are kept."""
    return _GENDER_MARK.sub(" ", str(text))


# --- Search tokens (the catalogue search's lexical side, recommender/lexical.py) ------------------------------

# Words a search ignores, French and English: articles, prepositions, pronouns, auxiliaries. Compared folded.
_FRENCH_SEARCH_STOP_WORDS = (
    "a ai au aux avec c ce ces cet cette chez comme d dans de des du elle elles en entre est et etre ete il ils j "
    "je l la le les leur leurs lui m ma mais me meme mes moi mon n ne nos notre nous on ou par pas plus pour qu "
    "que qui s sa sans se ses son sont sous sur t ta te tes toi ton tres tu un une vers vos votre vous y"
)
# With scikit-learn's English list, which the search used before it read French.
SEARCH_STOP_WORDS = frozenset(_FRENCH_SEARCH_STOP_WORDS.split()) | frozenset(ENGLISH_STOP_WORDS)
_SEARCH_ELISION = re.compile(r"\b(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu)['’]", re.IGNORECASE)
_SEARCH_TOKEN = re.compile(r"(?u)\b\w\w+\b")
# Feminine endings brought to the masculine before stemming (Snowball keeps "soudeuse" → "soudeux" apart from
# "soudeur", "conductrice" → "conductric" from "conducteur"); longest first.
_FEMININE_TO_MASCULINE = (
    ("euses", "eur"), ("euse", "eur"), ("trices", "teur"), ("trice", "teur"), ("ières", "ier"), ("ière", "ier"),
    ("iennes", "ien"), ("ienne", "ien"), ("ères", "er"), ("ère", "er"),
)
# Accents people leave out on the endings Snowball needs them on ("comptabilite" → "comptabilité").
_REACCENT = (("ites", "ités"), ("ite", "ité"), ("ieres", "ières"), ("iere", "ière"), ("eres", "ères"),
             ("ere", "ère"))


@lru_cache(maxsize=1)
def _french_stemmer() -> Any:
    import snowballstemmer  # type: ignore[import-untyped]

    return snowballstemmer.stemmer("french")


@lru_cache(maxsize=524_288)
def search_stem(word: str) -> str:
    """The stem a search compares (``word`` lower case): feminine endings to the masculine, Snowball's French
    stemmer, accents folded, nouns of action to their verb: "Comptabilité", "comptables", "comptabilite" →
    "comptabl"; "soudeuse" and "soudeur" → "soudeur"; "soudure", "soudage", "souder" → "soud"; words with digits
    (certification codes) are kept as they are."""
    if not word.isalpha() or len(word) <= 3:
        return fold(word)
    if word.isascii():
        for plain, accented in _REACCENT:
            if word.endswith(plain) and len(word) > len(plain) + 2:
                word = word[: -len(plain)] + accented
                break
    for feminine, masculine in _FEMININE_TO_MASCULINE:
        if word.endswith(feminine) and len(word) > len(feminine) + 2:
            word = word[: -len(feminine)] + masculine
            break
    stem = fold(_french_stemmer().stemWord(word))
    # Nouns of action in -age and -ure meet their verb, which Snowball leaves apart: "soudage", "soudure" and
    # "souder" → "soud"; "chauffage" → "chauff" (not "chauffeur": agent nouns in -eur keep their ending).
    if word.endswith(("age", "ages", "ure", "ures")) and stem.endswith(("ag", "ur")) and len(stem) >= 6:
        stem = stem[:-2]
    return stem


def search_tokens(text: str) -> list[str]:
    """The tokens the catalogue search indexes and queries with, for French and English alike: lower case,
    elisions cut ("l'accueil" → "accueil"), words of two characters or more, stop words of both languages out,
    then :func:`search_stem`. One analysis for every language: a query is compared with the texts the same way
    whatever language either is written in."""
    text = _SEARCH_ELISION.sub(" ", unicodedata.normalize("NFKC", str(text)).lower())
    out: list[str] = []
    for token in _SEARCH_TOKEN.findall(text):
        if fold(token) in SEARCH_STOP_WORDS:
            continue
        out.append(search_stem(token))
    return out
