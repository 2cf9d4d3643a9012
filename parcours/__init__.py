"""Parcours: CPF career guidance and the supporting services of the online training account.

This package holds what every other folder shares: one ``Settings`` object, the error hierarchy and the
``parcours`` command line. Domain code lives in ``features/``, ``recommender/``, ``training/`` and ``serving/``.
"""

__version__ = "0.1.0"
