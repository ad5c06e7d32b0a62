"""Analyses of trained networks behind ``bench analyze`` (each writes a table and a PNG plot):

| module | function | what |
|---|---|---|
| ``bet`` | :func:`bench.analyses.bet.bet_metric` | bit-error tolerance per layer and network (seed 2) |
| ``bet_correlation`` | :func:`bench.analyses.bet_correlation.bet_correlation` | accuracy over BER vs the metric (seed 2 Fig. 1) |
| ``eps_matrix`` | :func:`bench.analyses.eps_matrix.eps_matrix` | train-eps x test-eps accuracy (seed 1 Fig. 1) |
| ``sensitivity`` | :func:`bench.analyses.sensitivity.sensitivity` | layer randomisation (seed 1 Fig. 2) |

Each takes an optional ``progress`` (a ``rich`` Progress with a ``status`` field, e.g.
``bench.output.progress``) and returns a ``bench.output.TableResult``.
"""
