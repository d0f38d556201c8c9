"""The ``streamconv run`` command: the daemon, one of its roles, or the driver of a Ray cluster."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streamconv import exitcodes
from streamconv.commands.options import add_log_level, name_list, one_line, positive_int, setup_logging
from streamconv.errors import ConfigError

__all__ = ["cmd_run", "register", "service_roles"]


def register(subparsers: Any) -> None:
    """Add the ``run`` subcommand."""
    p = subparsers.add_parser("run", help="run the daemon in the foreground")
    p.add_argument("--config", "-c", help="YAML config file (default: the embedded default)")
    p.add_argument("--check", action="store_true", help="only validate the config")
    p.add_argument("--print-config", action="store_true", help="print the effective config as YAML")
    p.add_argument("--role", choices=["producer", "worker", "publisher"],
                   help="run only this role (its peers are other processes, joined by the config's links)")
    p.add_argument("--workers", type=positive_int,
                   help="worker threads in this process (default: links.workers)")
    p.add_argument("--streams", type=name_list, metavar="NAMES",
                   help="comma-separated: the workers here serve only these streams (default: all)")
    add_log_level(p, default="info")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon in the foreground (or only validate the config with --check)."""
    from streamconv import config as cfg

    try:
        config = cfg.load(args.config)
        if config.service.curve_secret_key_file is not None:  # a bad key file is a config error too
            from streamconv.keys import read_secret_key

            read_secret_key(config.service.curve_secret_key_file)
        roles = [args.role] if args.role else list(service_roles())
        from streamconv.service import check_roles

        check_roles(config, roles)
        if args.streams is not None:
            unknown = [s for s in args.streams if s not in config.streams]
            if "worker" not in roles or unknown:
                raise ConfigError(
                    f"--streams {','.join(args.streams)}: "
                    + (f"no stream {', '.join(unknown)} in the config" if unknown else "needs workers here")
                )
    except ConfigError as exc:
        print(f"streamconv run: bad config: {one_line(exc)}", file=sys.stderr)
        return exitcodes.USAGE
    if args.print_config:
        print(cfg.dump_yaml(config), end="")
        return exitcodes.OK
    if args.check:
        streams = ", ".join(
            f"{name} ({s.source.kind}: {', '.join(s.outputs) or 'no outputs'})"
            for name, s in config.streams.items()
        )
        role = f" (role {args.role})" if args.role else ""
        print(f"config OK: {args.config or '<embedded default>'}{role}: streams {streams or 'none'}")
        return exitcodes.OK
    setup_logging(args.log_level)
    if config.cluster is not None and not args.role:
        from streamconv.cluster import driver

        return driver.run(config)
    from streamconv import service

    return service.run(config, roles, workers=args.workers, worker_streams=args.streams)


def service_roles() -> tuple[str, ...]:
    """Return the roles ``streamconv run`` starts without ``--role``."""
    from streamconv.service import ROLES

    return ROLES
