"""Importing parcours first sets OMP_WAIT_POLICY before an OpenMP library (FAISS, scikit-learn) loads."""

import parcours  # noqa: F401
