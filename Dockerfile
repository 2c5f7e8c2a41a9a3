# syntax=docker/dockerfile:1
# The SDK Address Book: one image for `serve` (HTTP under gunicorn), `worker` (DNS) and `init` (migrations).
#   docker build -t sdk-addressbook .
#   docker run --rm -p 8080:8080 -e SDK_DATABASE_URL=... sdk-addressbook serve
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: wheels of the project and everything it needs, in a virtual environment ----------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/sdk-addressbook
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
RUN /opt/sdk-addressbook/bin/pip install . \
 && /opt/sdk-addressbook/bin/sdk-addressbook --help > /dev/null

# --- runtime: the virtual environment only, run as an unprivileged user -----------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 sdk \
 && useradd --system --uid 10001 --gid sdk --home-dir /var/lib/sdk-addressbook --create-home --shell /usr/sbin/nologin sdk
COPY --from=build /opt/sdk-addressbook /opt/sdk-addressbook
ENV PATH=/opt/sdk-addressbook/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SDK_INSTANCE_DIR=/var/lib/sdk-addressbook \
    SDK_HTTP_LISTEN=0.0.0.0:8080
WORKDIR /var/lib/sdk-addressbook
USER 10001:10001
EXPOSE 8080
# Asks /healthz on SDK_HTTP_LISTEN (the `healthcheck` command reads the same settings as `serve`).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["sdk-addressbook", "healthcheck"]
ENTRYPOINT ["sdk-addressbook"]
CMD ["serve"]
