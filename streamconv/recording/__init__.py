"""MCAP recording and replay, and the viewer encodings shared with the Foxglove server."""
