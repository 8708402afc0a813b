# syntax=docker/dockerfile:1
# One Dockerfile, three images: `docker build --target reposter|operator|api .`
#
# Each image holds only its own extra's packages (pyproject.toml), so the reposter, which every
# bot starts every few minutes, carries no Kopf, FastAPI or Kubernetes client: less to pull onto
# a node and less to import. All three run the `skybots` console script as their entrypoint; the
# operator's CronJobs pass `reposter run --config ...` as args. Versions come from
# requirements.lock, the same pins the tests run with; the web app's from frontend/package-lock.json.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
ARG NODE_IMAGE=node:22.23.3-bookworm-slim

# --- app: the web app (frontend/), built from its lock as `make app` builds it -----------------
# Vite writes to ../skybots/api/static/app (frontend/vite.config.ts); only the api image takes it.
FROM ${NODE_IMAGE} AS app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/index.html frontend/vite.config.ts frontend/tsconfig.json ./
COPY frontend/src ./src
RUN npm run --silent build -- --logLevel warn

# --- build: one virtualenv per image, byte-compiled, nothing else ------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY skybots ./skybots
# A read-only root filesystem cannot take .pyc files at run time, and compiling on every start
# would cost each run its imports twice over: compile everything now.
RUN set -eux; \
    for role in reposter operator api; do \
        python -m venv /opt/skybots-$role; \
        /opt/skybots-$role/bin/pip install --quiet -c requirements.lock ".[$role]"; \
        /opt/skybots-$role/bin/pip uninstall --quiet --yes pip setuptools; \
        python -m compileall -q -j 0 /opt/skybots-$role; \
    done

# --- the images: the base image, one virtualenv, a user with no name and no shell -------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["skybots"]

FROM runtime AS reposter
COPY --from=build /opt/skybots-reposter /opt/skybots-reposter
ENV PATH=/opt/skybots-reposter/bin:$PATH
CMD ["reposter", "run", "--help"]

FROM runtime AS operator
COPY --from=build /opt/skybots-operator /opt/skybots-operator
ENV PATH=/opt/skybots-operator/bin:$PATH
EXPOSE 8080 9090
CMD ["operator"]

FROM runtime AS api
COPY --from=build /opt/skybots-api /opt/skybots-api
# Where the installed package serves /app/ from (skybots/api/pages.py, BUILT_SPA).
COPY --from=app /src/skybots/api/static/app /opt/skybots-api/lib/python3.11/site-packages/skybots/api/static/app
ENV PATH=/opt/skybots-api/bin:$PATH
EXPOSE 8000
CMD ["api"]
