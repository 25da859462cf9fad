# threshold: `make demo` runs the neighbourhood, `make test` runs the suite. Both set themselves up.
SHELL := /bin/bash
# uv uses the machine's own Python; it never downloads an interpreter.
export UV_PYTHON_DOWNLOADS := never
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo demo-headless test test-fast fuzz lint bench bench-devices bench-outbox bench-recording bench-routes bench-forecast clean

$(UV):
	python3 -m venv .tools && .tools/bin/pip install -q uv==0.13.9

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	touch $@

# The web portal's browser assets (htmx, axe-core for the browser tests), exactly as package-lock.json says.
node_modules/.package-lock.json: package-lock.json
	@scripts/ensure-node.sh
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.synced node_modules/.package-lock.json

demo: setup
	@scripts/ensure-ffmpeg.sh
	$(VENV)/bin/threshold demo

demo-headless: setup
	@scripts/ensure-ffmpeg.sh
	$(VENV)/bin/threshold demo --headless --deliveries 50

test: setup
	@set -e; trap scripts/stop-test-services.sh EXIT; scripts/ensure-ffmpeg.sh; \
	chromium=$$(scripts/ensure-chromium.sh); echo "Chromium for browser tests: $$chromium"; \
	export THRESHOLD_TEST_PG_URL="$${THRESHOLD_TEST_PG_URL:-$$(scripts/ensure-postgres.sh)}"; \
	export THRESHOLD_TEST_MQTT_URL="$${THRESHOLD_TEST_MQTT_URL:-$$(scripts/ensure-mosquitto.sh)}"; \
	if [[ -z "$${THRESHOLD_TEST_HA_URL:-}" ]]; then ha=$$(scripts/ensure-homeassistant.sh); eval "$$(sed 's/^/export /' <<<"$$ha")"; fi; \
	echo "PostgreSQL for tests: $$THRESHOLD_TEST_PG_URL"; \
	echo "Mosquitto for tests: $$THRESHOLD_TEST_MQTT_URL"; \
	echo "Home Assistant for tests: $$THRESHOLD_TEST_HA_URL"; \
	$(PY) -m pytest -q -p no:cacheprovider --durations=20

# Schemathesis over the whole OpenAPI, long: 200 examples per operation and mode (THRESHOLD_FUZZ_EXAMPLES), every
# schemathesis check, SQLite and PostgreSQL. `make test` runs the same test with 8 examples and two checks.
fuzz: setup
	@export THRESHOLD_TEST_PG_URL="$${THRESHOLD_TEST_PG_URL:-$$(scripts/ensure-postgres.sh)}"; \
	THRESHOLD_FUZZ_EXAMPLES="$${THRESHOLD_FUZZ_EXAMPLES:-200}" THRESHOLD_FUZZ_CHECKS=all \
	THRESHOLD_FUZZ_BACKENDS=sqlite,postgresql $(PY) -m pytest -q -p no:cacheprovider --durations=2 \
	tests/api/test_fuzz_openapi.py

lint: setup
	$(VENV)/bin/ruff check src tests bench migrations
	$(VENV)/bin/mypy

bench: setup
	@export THRESHOLD_BENCH_PG_URL="$${THRESHOLD_BENCH_PG_URL:-$$(scripts/ensure-postgres.sh)}"; \
	$(PY) bench/entry_latency.py

bench-devices: setup
	$(PY) bench/device_hub.py --quiet-wait 60

bench-outbox: setup
	@export THRESHOLD_BENCH_PG_URL="$${THRESHOLD_BENCH_PG_URL:-$$(scripts/ensure-postgres.sh)}"; \
	$(PY) bench/outbox.py

bench-recording: setup
	@scripts/ensure-ffmpeg.sh
	$(PY) bench/recording.py --quiet-wait 60

bench-routes: setup
	$(PY) bench/routes.py --time-limits 2,10 --jobs 2

# Both datasets from ../shared/data/orders (or THRESHOLD_ORDERS_DATA): every model on the same origins.
bench-forecast: setup
	$(PY) bench/forecast.py $${THRESHOLD_ORDERS_DATA:+--data-root "$$THRESHOLD_ORDERS_DATA"}

clean:
	-scripts/stop-test-services.sh --postgres
	rm -rf .threshold bench/out
