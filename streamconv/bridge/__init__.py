"""Bridges from a running daemon to other tools' live protocols (the Foxglove WebSocket server)."""
