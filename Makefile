# pipit: the two commands are `make run` and `make test`; see README.md.
# CMake + Ninja do the building; this file only strings the steps together.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
PYTHON     ?= /usr/bin/python3
FUZZ_SECONDS ?= 30
DATA_DIR   ?= data

.PHONY: all deps test-deps build server web run test unit integration hostile sdk-test browser-test asan asan-test tsan tsan-test fuzz docs docs-check bench bench-search bench-retention bench-filter clean

all: build

deps:
	@scripts/deps.sh

# Also what only the tests need (Chromium for the browser tests).
test-deps:
	@scripts/deps.sh test

build: server web

server:
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD)

# The web app, the admin console and the SDK they use, rebuilt only when a
# source changed; npm packages come from the committed lockfile (npm ci).
WEB_SOURCES := $(shell find web/src web/public web/admin sdk/js/src -type f 2>/dev/null) \
	web/index.html web/vite.config.ts web/tsconfig.json web/package.json \
	sdk/js/tsconfig.json sdk/js/package.json

web: web/dist/index.html

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

web/dist/index.html: node_modules/.package-lock.json $(WEB_SOURCES)
	npm run --silent build
	@touch $@

run: deps build
	@mkdir -p $(DATA_DIR)
	@scripts/run.sh $(BUILD)/pipitd $(DATA_DIR)

unit: server
	ctest --test-dir $(BUILD) --output-on-failure

integration: build
	PIPITD=$(CURDIR)/$(BUILD)/pipitd PIPIT=$(CURDIR)/$(BUILD)/pipit \
	    $(PYTHON) -m pytest -q tests/integration

# The hostile-input catalogue (tests/hostile/README.md) against one pipitd.
hostile: build
	PIPITD=$(CURDIR)/$(BUILD)/pipitd PIPIT=$(CURDIR)/$(BUILD)/pipit \
	    $(PYTHON) -m pytest -q tests/hostile

# The SDK's tests (Node's test runner) against a real pipitd.
sdk-test: build
	PIPITD=$(CURDIR)/$(BUILD)/pipitd npm run --silent test:sdk

# The web app and the admin console in Debian's Chromium (playwright-core).
browser-test: build
	PIPITD=$(CURDIR)/$(BUILD)/pipitd npm run --silent test:browser

asan:
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPIPIT_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD)

# The unit tests, the whole integration suite and the hostile catalogue again, under ASan + UBSan.
asan-test: asan
	ctest --test-dir $(ASAN_BUILD) --output-on-failure
	PIPITD=$(CURDIR)/$(ASAN_BUILD)/pipitd PIPIT=$(CURDIR)/$(ASAN_BUILD)/pipit \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(PYTHON) -m pytest -q tests/integration tests/hostile

# The integration suite under ThreadSanitizer: workers, store threads and their queues.
tsan:
	@cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	    -DCMAKE_C_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
	@cmake --build $(TSAN_BUILD) --target pipitd pipit

tsan-test: tsan
	PIPITD=$(CURDIR)/$(TSAN_BUILD)/pipitd PIPIT=$(CURDIR)/$(TSAN_BUILD)/pipit \
	    PIPIT_TEST_TIMEOUT_SCALE=4 \
	    TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$(CURDIR)/tests/tsan.supp" \
	    $(PYTHON) -m pytest -q tests/integration

# Replays each fuzz target's checked-in corpus, then explores for FUZZ_SECONDS more.
fuzz:
	@cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DPIPIT_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD)
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The sanitizer runs go last so the closing lines are the test runners' summaries.
# They run side by side (each mostly waits on its server), their output kept whole.
test: deps test-deps
	@$(MAKE) --no-print-directory docs-check
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory hostile
	@$(MAKE) --no-print-directory sdk-test
	@$(MAKE) --no-print-directory browser-test
	@$(MAKE) --no-print-directory -j2 --output-sync=target tsan-test asan-test

# docs/config.md is generated from the config table; this fails when it is stale.
docs: server
	$(BUILD)/pipitd --print-config-docs > docs/config.md

docs-check: server
	@$(BUILD)/pipitd --print-config-docs | diff -u docs/config.md - \
	    || (echo "docs/config.md is stale: run 'make docs'"; exit 1)

# Benchmarks (not part of make test): see bench/README.md and bench/RESULTS.md.
# About three minutes: REST, idle sessions, 1:1 chat (max rate, then paced), fan-out.
bench: deps server
	bench/http_rps.sh $(BUILD)/pipitd
	bench/idle_connections.sh $(BUILD) 10000 4
	bench/chat_pairs.sh $(BUILD) 500 8 2
	bench/chat_fanout.sh $(BUILD) 1000 1000 16 2
	bench/push_rps.sh $(BUILD)/pipitd
	taskset -c 1 $(BUILD)/pipit-webpush-bench 5

# Message search on a million messages, and what the index costs sending (issue 8):
# a few minutes the first time (the store is built once into $(BUILD)/search-bench-*).
bench-search: deps server
	bench/search.sh $(BUILD)

# What the content filter's 10,000-word list costs 1:1 chat's maximum rate (about 4 minutes).
bench-filter: deps server
	bench/content_filter.sh $(BUILD) 5

# Send latency while the retention sweep deletes 200,000 expired messages (about a minute).
bench-retention: deps server
	/usr/bin/python3 bench/retention_sweep.py $(BUILD) 200000

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) web/dist sdk/js/dist
