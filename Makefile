# wanderer-kills — common tasks. `make test` is the CI gate (see .ci/run).

SIM_PORT ?= 4010
PORT ?= 4004
BIN := ./target/debug/wanderer-kills

.PHONY: build release run test lint fmt demo simulate clean js-deps browser-deps py-deps nats promtool

build:
	cargo build

release:
	cargo build --release

# The service on $(PORT), following the live zKillboard feed.
run:
	cargo run --release

# Formatting, lints, then every test (unit, property, integration). This is what CI runs.
test: lint js-deps browser-deps py-deps nats promtool
	cargo test --all

# Prometheus' promtool, for the metrics lint (tests/api/metrics.rs): taken out of Debian's
# prometheus package into .tools/ (nothing installed, no service started).
promtool: .tools/promtool

.tools/promtool:
	mkdir -p .tools/deb
	cd .tools/deb && { apt-get download prometheus 2>/dev/null || { apt-get update -qq && apt-get download prometheus; }; }
	dpkg-deb -x .tools/deb/prometheus_*.deb .tools/deb/root
	cp .tools/deb/root/usr/bin/promtool .tools/promtool
	rm -rf .tools/deb

# A NATS server with JetStream on 127.0.0.1:4222 for the cluster tests (tests/api/cluster.rs):
# the one running there, else Debian's nats-server started in the background.
nats:
	@python3 -c "import socket; socket.create_connection(('127.0.0.1', 4222), 1)" 2>/dev/null || { \
	  command -v nats-server >/dev/null || { apt-get update -qq && apt-get install -y -qq nats-server; }; \
	  mkdir -p /tmp/wk-nats; \
	  setsid nats-server -a 127.0.0.1 -p 4222 -js -sd /tmp/wk-nats >/tmp/wk-nats/log 2>&1 < /dev/null & \
	  sleep 1; }

# The official Phoenix JavaScript client the WebSocket tests drive (Node 18+, npm).
js-deps: tests/js/node_modules/.package-lock.json

tests/js/node_modules/.package-lock.json: tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund

# A Python venv with the packages the examples' tests use (tests/python/requirements.txt).
py-deps: .venv-tests/.installed

.venv-tests/.installed: tests/python/requirements.txt
	python3 -m venv .venv-tests
	.venv-tests/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	touch .venv-tests/.installed

# Debian's Chromium, for the dashboard's browser test (tests/api/browser.rs).
browser-deps:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

# The simulator alone: zKillboard (R2Z2, RedisQ, API) and ESI on 127.0.0.1:$(SIM_PORT).
simulate: build
	$(BIN) simulate --port $(SIM_PORT)

# Simulator and service wired together: kills flow with no internet. Ctrl-C stops both.
demo: build
	@$(BIN) simulate --port $(SIM_PORT) --rate-ms 2000 & sim=$$!; \
	trap 'kill $$sim 2>/dev/null' EXIT INT TERM; \
	sleep 1; \
	APP_ENVIRONMENT=development PORT=$(PORT) DATA_DIR=./data/demo \
	R2Z2_BASE_URL=http://127.0.0.1:$(SIM_PORT)/ephemeral \
	REDISQ_BASE_URL=http://127.0.0.1:$(SIM_PORT)/listen.php \
	ZKB_BASE_URL=http://127.0.0.1:$(SIM_PORT)/api \
	ESI_BASE_URL=http://127.0.0.1:$(SIM_PORT) \
	$(BIN)

clean:
	cargo clean
