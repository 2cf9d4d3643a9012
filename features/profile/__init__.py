"""The skills profile of a holder (purpose 9): what the holder knows, built from what they declared.

Inputs are the ``experience`` rows (jobs, diplomas, certifications, trainings, volunteering, skills the holder
names) and the trainings the holder completed in our own files (``interactions`` with ``event = 'complete'``).
Each declaration becomes *evidence* rows (``holder_skills``): a skill URI, a weight in (0, 1], a source
(verified / declared) and its provenance (the experience row or training, the ESCO concept it was mapped to,
and how sure that mapping was).

Weights (documented in docs/esco.md, "Skills profile"):

- a job or volunteering brings the skills of its occupation (derived table, link weight in (0, 1]) times a
  duration factor ``1 - exp(-years / 2.5)`` (6 years → 0.91, 1 year → 0.33) and a recency factor
  ``0.6 + 0.4 · exp(-years since it ended / 8)``;
- a diploma brings the skills of its field's occupation at 0.5, a certification its skill at 0.8, a training
  its skills at 0.7, a skill the holder names at 0.6 (all times the recency factor);
- free text without an ESCO URI is mapped through ``features.esco_matcher``; the weight is multiplied by the
  mapping's confidence, and by 0.5 more when the mapping is flagged low-confidence;
- verified evidence (``experience.source = 'verified'`` or a completed training of our files) counts fully,
  declared evidence at 0.8 (``DECLARED_FACTOR``).

A skill's weight in the profile is the noisy-or ``1 - Π(1 - wᵢ)`` of its evidence: more independent evidence,
more weight, never above 1. A skill is *verified* when any of its evidence is. Skills the holder removed
(``holder_skill_exclusions``) are left out unless verified (verified skills cannot be silently dropped).

The profile is recomputed when a declaration changes (``recompute.recompute_profile``), not per
recommendation, and stored with an embedding of its top skills (``holder_profiles``), ready for candidate
generation.

One job per module:

- ``model``: the profile's types (evidence, skill, mapping, profile, detached declaration);
- ``weights``: the weighting rules (duration, recency, factors) and the noisy-or, scalar and vectorised;
- ``matching``: how a declaration's free text is read as an ESCO concept (``Matcher``, cached and batched);
- ``evidence``: the evidence rows one declaration or one completed training gives;
- ``aggregate``: evidence grouped by skill into a profile, and the profile's order of skills;
- ``embedding``: the profile's point in the catalogue's vector space;
- ``build``: computing (not storing) the profiles of holders from the database;
- ``store``: writing profiles to ``holder_skills`` / ``holder_profiles`` in bulk, and reading them back;
- ``recompute``: recompute-and-store, for one holder or many (chunks, progress, commits);
- ``gap``: the skills of a target occupation a holder lacks.
"""
