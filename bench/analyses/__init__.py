"""Analyses behind ``bench analyze <analysis>``.

Each module here has ``register(subparsers)``, which adds its parser (the subcommand name
is the module name with ``-`` for ``_``) and sets ``func(args) -> int | None``. To add an
analysis, write the module and append its name to :data:`ANALYSIS_MODULES`.
"""

ANALYSIS_MODULES = [
    "bet",
    "bet_correlation",
    "eps_matrix",
    "sensitivity",
]
