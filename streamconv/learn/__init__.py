"""Learning filters from data: causal weights, 2D kernels and 3D banks fitted as parameters.

The math lives in pure modules (no I/O): :mod:`streamconv.learn.fir` (least-squares causal
weights and a tuned constant-velocity Kalman reference), :mod:`streamconv.learn.kernel2d`
(least-squares 2D kernels and linear 3D banks from frame pairs) and
:mod:`streamconv.learn.bank` (a small numpy CNN on the digits data set, with hand-made-feature
and raw-pixel baselines).  :mod:`streamconv.learn.logs` reads the data they learn from (a
``streamconv log`` directory; the seam where recordings plug in).  ``streamconv learn`` is the
command line over them.
"""

__all__: list[str] = []
