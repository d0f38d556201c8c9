"""``streamconv web``: a browser viewer for a running daemon (frames, sample charts, stats, control).

:mod:`streamconv.web.hub` keeps what the subscriber thread received (each frame JPEG-encoded once);
:mod:`streamconv.web.server` is the aiohttp application (needs the ``web`` extra:
``pip install 'streamconv[web]'``).
"""
