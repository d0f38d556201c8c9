"""Subcommands beyond the core ones: each module defines ``register(subparsers)``.

A module here adds its own ``argparse`` subparser with ``set_defaults(func=...)``; the function
takes the parsed namespace and returns an exit code.  Heavy imports go inside the function.
"""
