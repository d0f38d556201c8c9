"""The exit codes of every ``streamconv`` command, in one table.

===== =============== ==============================================================================
Code  Name            Meaning
===== =============== ==============================================================================
0     ``OK``          The command did what it was asked.
1     ``FAILURE``     It ran and failed: an error reply from the daemon (``ctl``), a role that failed
                      while running (``run``), a section that failed (``bench``), a missing optional
                      dependency, or an unexpected internal error (a bug: one line on stderr, the
                      traceback logged at debug level).
2     ``USAGE``       Bad input: command line, config, key, file, path or endpoint, an endpoint
                      already in use, a key file that exists (``keygen`` without ``--force``), no
                      display for a window.  One line on stderr names what is wrong.
69    ``UNAVAILABLE`` Nobody answered within the timeout: no reply from the control endpoint
                      (``ctl``), no message from the publisher (``subscribe``).
130   ``INTERRUPTED`` Ctrl-C (SIGINT) where it is not the command's normal way to stop (``run``
                      and ``log`` stop cleanly on the first one, with 0), or a second SIGINT/SIGTERM
                      during their shutdown: 128 + SIGINT, as shells report it.
===== =============== ==============================================================================

The numbers follow the conventions the tools around us use: 2 for a usage error (argparse,
uvicorn, ``bash``), ``EX_UNAVAILABLE`` (69) from BSD ``sysexits.h`` for a service that cannot be
reached, and 128 + the signal number for a signal.  Scripts and health checks may rely on
them: ``streamconv ctl ping`` is 0 when the daemon answers and non-zero otherwise.
"""

from __future__ import annotations

from typing import Final

__all__ = ["FAILURE", "INTERRUPTED", "OK", "UNAVAILABLE", "USAGE"]

OK: Final = 0
FAILURE: Final = 1
USAGE: Final = 2
UNAVAILABLE: Final = 69  # sysexits.h EX_UNAVAILABLE
INTERRUPTED: Final = 130  # 128 + SIGINT
