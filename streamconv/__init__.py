"""streamconv: real-time sensor and video stream filtering over ZeroMQ."""

from streamconv.errors import StreamconvError

__all__ = ["StreamconvError", "__version__"]

__version__ = "0.1.0"
