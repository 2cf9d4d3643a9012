"""Parameters of the generative model, documented in data/README.md (the constants carry the names used there):
the scales of a world, the weights of the latent utility and the view → enrol → complete process."""

from __future__ import annotations

from dataclasses import dataclass, fields

# --- Scales -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorldScale:
    """Size of a world and how its views are drawn (see data/README.md, "Scales")."""

    n_trainings: int
    n_holders: int
    n_providers: int
    # Occupations the world draws jobs, targets and trainings from (None: all with derived skills).
    n_occupations: int | None
    # Mean number of trainings an active holder views over the 24 months.
    mean_views: float
    # "full": views are drawn by softmax over the whole catalogue. "neighbourhood": over a candidate pool per
    # holder = the ``pool_overlap`` trainings closing most of the holder's skill gap + ``pool_random`` drawn
    # uniformly from the catalogue (trainings outside the pool have a negligible softmax weight).
    pool: str
    pool_overlap: int = 600
    pool_random: int = 200
    block: int = 250  # holders simulated together (memory ∝ block × pool size)
    # Offerings per certification (the RS register has 4-digit codes: at most 8,999 RS certifications).
    trainings_per_certification: float = 3.5


SCALES: dict[str, WorldScale] = {
    "tiny": WorldScale(
        n_trainings=300,
        n_holders=200,
        n_providers=30,
        n_occupations=40,
        mean_views=14.0,
        pool="full",
        block=200,
    ),
    "small": WorldScale(
        n_trainings=5_000,
        n_holders=3_000,
        n_providers=400,
        n_occupations=400,
        mean_views=16.0,
        pool="full",
        block=250,
    ),
    "large": WorldScale(
        n_trainings=200_000,
        n_holders=100_000,
        n_providers=12_000,
        n_occupations=None,
        mean_views=9.6,
        pool="neighbourhood",
        block=1_000,
        trainings_per_certification=12.0,
    ),
}


# --- The latent model (documented in data/README.md) --------------------------------------------------------


@dataclass(frozen=True)
class UtilityWeights:
    """Weights of the noise-free utility of holder h for training t (formula in data/README.md)."""

    gap: float = 20.0  # × skill-gap closure toward the goal occupation (target, or current job)
    affordability: float = 0.6  # × price sensitivity × log1p(out-of-pocket / OOP_SCALE_EUR)
    modality: float = 1.2  # × (holder's weight for the training's modality − 1/3)
    region: float = 1.2  # × (1 − mobility) when onsite elsewhere (half for hybrid)
    quality: float = 2.0  # × (provider quality − QUALITY_MEAN)
    popularity: float = 0.8  # × training attractiveness (brand, marketing; N(0, 1)-ish)
    prerequisites: float = 1.0  # × share of prerequisites the holder does not master
    level: float = 0.5  # × levels above qualification + 1, or half of levels below qualification − 2


UTILITY_WEIGHTS = UtilityWeights()
OOP_SCALE_EUR = 250.0
QUALITY_MEAN = 0.65
PREREQUISITE_PROFICIENCY = 0.3  # a prerequisite is met when the latent proficiency is at least this
CONTINUITY_MODE_WEIGHT = 0.6  # goal weight of holders without a target (upskilling in their current job)
CONTINUITY_GAP_DISCOUNT = 0.5  # they still value skills they partly master: gap = w × (1 − 0.5 p)
SHARE_DECLARED_TARGET = 0.55  # holders who declare a target occupation
SHARE_LATENT_TARGET = 0.15  # of the others: a target they pursue but did not declare (truth only)
SHARE_CAREER_CHANGE = 0.25  # of targets: a career change (any occupation never held, by demand)
SHARE_DISABILITY = 0.05  # holders with a recognised disability (majorated CPF credit; truth only)

VIEW_TEMPERATURE = 0.6  # softmax temperature of views over the catalogue (utility units)
ENROL_NOISE_SD = 0.8  # sd of the Gaussian noise added to utility for the enrolment decision
ENROL_RATE = 0.12  # share of enrollable views enrolled (threshold = quantile of utility + noise)
MAX_ENROLMENTS = 3  # per holder over the 24 months
MIN_DAYS_BEFORE_SESSION = 14  # ≈ 11 working days between confirmation and start (DOMAIN.md)
MAX_DAYS_BEFORE_SESSION = 180  # a holder enrols in a session starting within six months of the view
HOURLY_RATE_EUR = 22.0  # median price per hour of training (price = hours × rate × provider markup)


# --- The world zoo (data/README.md, "The world zoo") ----------------------------------------------------------


@dataclass(frozen=True)
class WorldVariant:
    """A variant of the generator: what drives the choices (utility weights and latent terms) and how noisy they
    are. ``default`` is the world described in data/README.md; every other variant changes its drivers so that a
    model tuned to one generator can be caught learning the generator rather than the task (issue 13)."""

    name: str
    drives: str  # one line: what drives choices in this world
    weights: UtilityWeights = UTILITY_WEIGHTS
    view_temperature: float = VIEW_TEMPERATURE
    enrol_noise_sd: float = ENROL_NOISE_SD
    # Goals (see "Holders"): shares of declared and latent targets, goal weight of holders without a target.
    share_declared_target: float = SHARE_DECLARED_TARGET
    share_latent_target: float = SHARE_LATENT_TARGET
    continuity_mode_weight: float = CONTINUITY_MODE_WEIGHT
    # continuity: + affinity × Σ_{s taught} a(h, s), a = current job's normalised skill weight + partial × p(1 − p)
    affinity: float = 0.0
    affinity_partial: float = 0.3
    # price: price sensitivity × factor; a share of holders spent their rights on 1–2 trainings just before the
    # window (low balances).
    price_sensitivity_factor: float = 1.0
    share_spent_rights: float = 0.0
    # weak_content: + taste × T[cluster(h), family(t)] (T ~ N(0, 1); cluster drawn per region × age band × status,
    # family per training); texts generic or misleading and declared skills noisy (true skills in truth/).
    taste: float = 0.0
    taste_clusters: int = 8
    taste_families: int = 16
    weak_text: bool = False
    # social: + buzz × b[region(h), t], b = 1 + Exp(1) for the trainings that are a hit in the holder's region
    # (share buzz_share of the catalogue, three times that among the region's own trainings), 0 elsewhere.
    buzz: float = 0.0
    buzz_share: float = 0.03
    # Large worlds draw views over a candidate pool of the trainings closing most of the skill gap; only a world
    # whose utility is dominated by skill-gap closure can be drawn that way.
    pool_safe: bool = False

    def manifest(self) -> dict[str, object]:
        """What manifest.json records under "variant" (the weights and noise are under "utility_weights" and
        "process")."""
        skip = {"weights", "view_temperature", "enrol_noise_sd"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


VARIANTS: dict[str, WorldVariant] = {
    v.name: v
    for v in (
        WorldVariant(
            name="default",
            drives="skill-gap closure toward the goal occupation, then price, modality, region, quality, popularity",
            pool_safe=True,
        ),
        WorldVariant(
            name="continuity",
            drives="closeness to the current job: its skills and skills partly held; goal-driven gap closure weak",
            weights=UtilityWeights(gap=4.0, quality=1.5, popularity=0.6, prerequisites=0.5),
            affinity=16.0,
        ),
        WorldVariant(
            name="goal",
            drives="gap closure toward a target occupation (more holders with targets); prerequisites matter more",
            weights=UtilityWeights(
                gap=30.0, affordability=0.3, modality=0.8, region=0.8, quality=1.0, popularity=0.4,
                prerequisites=3.0, level=1.0,
            ),
            view_temperature=0.5,
            enrol_noise_sd=0.6,
            share_declared_target=0.8,
            share_latent_target=0.5,
            continuity_mode_weight=0.3,
            pool_safe=True,
        ),
        WorldVariant(
            name="price",
            drives="out-of-pocket cost against the balance (strong price sensitivity, many low balances)",
            weights=UtilityWeights(
                gap=14.0, affordability=3.0, modality=1.0, region=1.5, quality=0.5, popularity=0.4,
            ),
            view_temperature=0.5,
            price_sensitivity_factor=1.5,
            share_spent_rights=0.5,
        ),
        WorldVariant(
            name="weak_content",
            drives="latent tastes of holder segments for training families; texts generic, declared skills noisy",
            weights=UtilityWeights(gap=8.0, quality=1.0, popularity=0.4, prerequisites=0.5),
            taste=1.5,
            weak_text=True,
        ),
        WorldVariant(
            name="social",
            drives="herding: trainings popular overall and hits in the holder's region attract views",
            weights=UtilityWeights(gap=12.0, quality=1.0, popularity=2.0),
            buzz=2.0,
        ),
    )
}
DEFAULT_VARIANT = VARIANTS["default"]


def variant_problem(scale: WorldScale, variant: str) -> str | None:
    """Why ``variant`` cannot be generated at ``scale`` (None when it can)."""
    if variant not in VARIANTS:
        return f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}"
    if scale.pool != "full" and not VARIANTS[variant].pool_safe:
        return (
            f"variant {variant!r} needs views drawn over the whole catalogue; this scale draws them over a pool "
            f"of the trainings closing most of the skill gap (variants allowed: "
            f"{', '.join(v for v in VARIANTS if VARIANTS[v].pool_safe)})"
        )
    return None


# --- Languages (parcours world generate --lang) ---------------------------------------------------------------

LANGUAGES = ("en", "fr")
# Occupations a French world always holds, with their two nearest neighbours, like the anchors' (text prefixes of
# ESCO occupations): the trades French holders search for first ("comptabilité", "cariste", "aide-soignant" …),
# which a 400-occupation draw mostly misses. The English world is drawn without them, as before.
COMMON_TRADES = (
    "accountant ",
    "welder ",
    "forklift operator",
    "nurse assistant",
    "nurse responsible for general care",
    "baker ",
    "web developer",
    "bricklayer",
    "medical administrative assistant",
    "bus driver",
    "electrician",
    "plumber",
    "cook ",
    "hairdresser",
    "shop assistant",
    "carpenter",
    "home care aide",
    "warehouse worker",
    "waiter",
    "receptionist",
    "butcher",
    "building cleaner",
    "construction painter",
    "administrative assistant",
    "cashier",
)
