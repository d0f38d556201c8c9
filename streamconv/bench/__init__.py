"""The benchmarks behind ``streamconv bench``: our figures next to their references, as ratios.

Sections (``streamconv bench --only ...``): ``ops`` (:mod:`streamconv.bench.ops`), ``transport``
(:mod:`streamconv.bench.transport`), ``e2e``, ``sensor`` and ``idle`` (:mod:`streamconv.bench.e2e`),
and ``soak`` (:mod:`streamconv.bench.soak`).  :mod:`streamconv.bench.runner` runs them and prints
the tables; :mod:`streamconv.bench.targets` judges and plots the targets.  docs/benchmarks.md has
the method and the results.
"""

__all__ = ["DEFAULT_SECTIONS", "SECTIONS"]

from streamconv.bench.runner import DEFAULT_SECTIONS, SECTIONS
