"""The roles placed and supervised on a Ray cluster: Ray is the control plane, ZeroMQ the data plane.

Only :mod:`streamconv.cluster.driver` imports Ray, and only when a config has a ``cluster:``
section; the default install never needs it (the ``streamconv[cluster]`` extra).
"""
