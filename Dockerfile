# The game API (app/) for Cloud Run. Build from the repository root:
#   docker build -t pog-api .
# Not built in this repository's checks (no Docker engine there); tests/app/test_packaging.py checks its
# shape. Runtime dependencies only, from the hash-pinned requirements-app.lock (no dev tools, no Pulumi).

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY requirements-app.lock /tmp/requirements-app.lock
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-deps --require-hashes -r /tmp/requirements-app.lock

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8080
RUN groupadd --system --gid 10001 pog \
    && useradd --system --uid 10001 --gid pog --no-create-home --shell /usr/sbin/nologin pog
WORKDIR /srv
COPY --from=build /opt/venv /opt/venv
# Owned by root, read-only for the service user.
COPY app/ ./app/
USER 10001:10001
EXPOSE 8080
# Cloud Run sets PORT; sh expands it and exec hands PID 1 (and SIGTERM) to uvicorn.
CMD ["sh", "-c", "exec uvicorn app.main:app --host 0.0.0.0 --port ${PORT:-8080} --no-access-log"]
