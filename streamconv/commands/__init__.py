"""Subcommands beyond the core ones: each module defines ``register(subparsers)``.

A module here adds its own ``argparse`` subparser with ``set_defaults(func=...)``; the function
takes the parsed namespace and returns an exit code (a name from ``streamconv.exitcodes``).  Heavy
imports go inside the function.  ``options`` is no subcommand: it holds the argument types the
subcommands share (timeouts, durations, counts).
"""
