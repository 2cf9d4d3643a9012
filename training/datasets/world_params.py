"""Parameters of the generative model, documented in data/README.md (the constants carry the names used there):
the scales of a world, the weights of the latent utility and the view → enrol → complete process."""

from __future__ import annotations

from dataclasses import dataclass

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
WEEKLY_HOURS = {"onsite": 30, "hybrid": 20, "remote": 12}  # pace, to date the end of a session
