"""The project's exception types (all subclass ``ValueError`` where input is at fault)."""

from __future__ import annotations

__all__ = ["ConfigError", "StreamconvError", "WireError"]


class StreamconvError(ValueError):
    """Invalid input to a streamconv function: names the parameter, the value and what is allowed."""


class ConfigError(StreamconvError):
    """A configuration file or object that does not validate."""


class WireError(StreamconvError):
    """A message that does not follow the wire format."""
