# Code location "rt": build from the repository root with
#   docker build -f docker/rt.Dockerfile -t <registry>/rt-lake-rt:<tag> .
# Dependencies come from uv.lock (--frozen: the same pins as CI, no resolution).

# Stage 1: the Rt page bundle (site/dist) that rt/site publishes, built from the
# npm packages pinned by site/package-lock.json (the same build as `make setup`).
FROM node:22.12.0-bookworm-slim AS site
WORKDIR /site
COPY site/package.json site/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY site/ ./
RUN npm run build

FROM python:3.12.12-slim-bookworm

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/dagster/app \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    HOME=/tmp \
    PYTENSOR_FLAGS=base_compiledir=/tmp/pytensor \
    NUMBA_CACHE_DIR=/tmp/numba \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /opt/dagster/app

# Locked runtime dependencies only (no dev group, not the project itself: its
# code is copied below and found through PYTHONPATH).
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project \
    && mkdir -p $DAGSTER_HOME \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /tmp dagster

# Only this location's package and the shared resources.
COPY resources/ resources/
COPY rt_assets/ rt_assets/
# rt_assets/page.py finds the bundle beside the package: /opt/dagster/app/site/dist.
COPY --from=site /site/dist site/dist/

# Non-root; the root filesystem can be mounted read-only (everything that
# writes at run time writes under /tmp, an emptyDir in the pods).
USER 10001:10001
EXPOSE 3030
CMD ["dagster", "api", "grpc", "--host=0.0.0.0", "--port=3030", "--module-name=rt_assets.definitions", "--location-name=rt"]
