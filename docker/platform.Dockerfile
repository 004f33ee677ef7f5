# Dagster platform (webserver, daemon): no project code, only the Dagster
# packages, pinned to the versions in uv.lock. Build from the repository root:
#   docker build -f docker/platform.Dockerfile -t <registry>/rt-lake-platform:<tag> .
FROM python:3.12.12-slim-bookworm

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv

ENV PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    HOME=/tmp

WORKDIR /opt/dagster
COPY pyproject.toml uv.lock ./
# The lock, exported as constraints, pins every transitive dependency too.
RUN uv export --frozen --no-dev --no-emit-project --no-hashes -o /tmp/constraints.txt \
    && uv pip install --system --no-cache --constraint /tmp/constraints.txt \
        dagster dagster-webserver dagster-graphql dagster-k8s dagster-postgres dagster-aws \
    && rm /tmp/constraints.txt pyproject.toml uv.lock \
    && mkdir -p $DAGSTER_HOME \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /tmp dagster

USER 10001:10001
EXPOSE 3000
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "/opt/dagster/workspace/workspace.yaml"]
