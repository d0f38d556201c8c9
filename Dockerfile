# One image for every service in docker-compose.yml (publisher, producer, worker, logger, ctl):
#   docker build -t streamconv:latest .
#   docker run --rm streamconv:latest run --check -c configs/cluster.yaml --role worker
# With extras of pyproject.toml (comma-separated), e.g. Ray for docker-compose.ray.yml:
#   docker build --build-arg EXTRAS=cluster -t streamconv:cluster .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# OpenCV without a GUI: opencv-python-headless instead of the opencv-python that pyproject.toml
# depends on. The two wheels ship the same `cv2` module and conflict when both are installed; the
# headless one links no X11/OpenGL libraries, so no libgl1 or libglib apt packages are needed.
# A pip constraint cannot swap one package name for another, so:
#   1. install pyproject's own dependency list (read with tomllib, never copied by hand), plus the
#      lists of the extras named in EXTRAS, with opencv-python replaced by opencv-python-headless
#      (same version bound) wherever it appears; an extra pyproject.toml does not have fails;
#   2. install streamconv itself with --no-deps, so pip never resolves opencv-python (nor
#      streamconv[EXTRAS], which would name it again);
#   3. fail the build if opencv-python got in anyway (a dependency of an extra's package could
#      pull it), or if cv2 does not import.
# Only pyproject.toml is copied for step 1: the dependency layer is cached across source edits
# (a different EXTRAS is a different layer).
# `cluster` adds ray (its own requirements name no OpenCV) and the `ray` command
# docker-compose.ray.yml runs; about 240 MB more.
ARG EXTRAS=""
WORKDIR /src
COPY pyproject.toml README.md ./
RUN python -c "import os, re, sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; extras = [e.strip() for e in os.environ.get('EXTRAS', '').split(',') if e.strip()]; bad = [e for e in extras if e not in p['optional-dependencies']]; bad and sys.exit(f'EXTRAS: no extra {bad} in pyproject.toml; expected some of {sorted(p[\"optional-dependencies\"])}'); deps = p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e]]; print('\n'.join(re.sub(r'^opencv-python(?![A-Za-z0-9_.-])', 'opencv-python-headless', d) for d in deps))" > /tmp/requirements.txt \
 && cat /tmp/requirements.txt \
 && grep -q '^opencv-python-headless' /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

COPY streamconv ./streamconv
RUN pip install --no-deps . \
 && python -c "import importlib.metadata as md, sys; names = {(d.metadata['Name'] or '').lower() for d in md.distributions()}; sys.exit('opencv-python is installed; expected only opencv-python-headless' if 'opencv-python' in names else 0)" \
 && python -c "import cv2, streamconv; print('cv2', cv2.__version__)" \
 && case ",$EXTRAS," in *,cluster,*) ray --version ;; esac \
 && cd / && rm -rf /src /tmp/requirements.txt

# Run as an unprivileged user; the configs live in the working directory, so every compose
# command can say `--config configs/cluster.yaml`.
RUN useradd --create-home --uid 10001 --user-group streamconv
WORKDIR /app
COPY --chown=streamconv:streamconv configs ./configs
USER streamconv

# 5555: publish (PUB), 5556: control (REP), 5560: dispatch link (producer), 5561: collect link
# (publisher). docker-compose.yml publishes only 5555, on the host's loopback (configs/cluster.yaml
# binds control on the container's own loopback).
EXPOSE 5555 5556 5560 5561

# Healthy when the control socket answers a ping: that is the publisher's (or an all-roles
# daemon's) socket. Producer, worker, logger and ctl have no control socket: docker-compose.yml
# overrides this per service (its own check for the publisher, `disable: true` for the others).
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 \
    CMD ["streamconv", "ctl", "ping", "--control", "tcp://127.0.0.1:5556", "--timeout", "1"]

# SIGTERM stops every role cleanly (exit 0 within service.shutdown_timeout_s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["streamconv"]
# Every compose service sets its own command (`run --config configs/cluster.yaml --role ...`,
# `log ...`, `ctl ...`). cluster.yaml cannot run as one container: its links connect to the
# other containers by service name. So the image alone prints the usage.
CMD ["--help"]
