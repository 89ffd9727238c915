# Agent Work Orders — build, run and test.
#   make run    build and start the whole system (gateway on :8053, embedded NATS)
#   make deploy-check  lint and render the Helm chart, check it and the Compose file (no daemon, no cluster)
#   make test   install what the tests need, then vet, format-check and test everything
#   make chaos  the soak: 100 work orders while random services are SIGKILLed and restarted
#   make cluster-test  work orders on a 3-node JetStream cluster while its leaders are killed
#   make screenshots  the dashboard's screenshots in docs/screenshots, from the browser tests
#   make images  the container images from the Dockerfile (needs a Docker daemon with buildx; this
#                machine has none, so `go test ./e2e/images` checks the Dockerfile against this file)

SHELL          := /bin/bash
MODULE         := github.com/agentworkorders/awo
CLAUDE_VERSION := 2.1.328
CODEX_VERSION  := 0.171.0
TOOLS          := $(CURDIR)/.tools
CLAUDE         := $(TOOLS)/node_modules/.bin/claude
CODEX          := $(TOOLS)/node_modules/.bin/codex
BIN            := $(CURDIR)/bin
VERSION        ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS        := -X $(MODULE)/pkg/app.Version=$(VERSION)
TEST_TIMEOUT   ?= 9m

export AWO_DATA_DIR ?= $(CURDIR)/.data
export AWO_TEST_CLAUDE ?= $(CLAUDE)
export AWO_TEST_CODEX ?= $(CODEX)

.PHONY: all build run test bench chaos tools postgres chromium screenshots vet fmt-check clean help nats-cli images

all: build

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

## build: every binary into ./bin (awo = all-in-one; one per service)
build:
	go build -ldflags '$(LDFLAGS)' -o $(BIN)/awo ./cmd/awo
	cd services/gateway && go build -ldflags '$(LDFLAGS)' -o $(BIN)/awo-gateway ./cmd/gateway
	cd services/orchestrator && go build -ldflags '$(LDFLAGS)' -o $(BIN)/awo-orchestrator ./cmd/orchestrator
	cd services/executor && go build -ldflags '$(LDFLAGS)' -o $(BIN)/awo-executor ./cmd/executor
	cd services/github && go build -ldflags '$(LDFLAGS)' -o $(BIN)/awo-github ./cmd/github

## images: one image per Dockerfile target, named as docs/operations.md#images says; the builder
##         stage runs the commands of `build` above (e2e/images checks it). IMAGE_BUILD_FLAGS adds
##         flags (--push, --platform linux/amd64,linux/arm64)
IMAGE_REPO        ?= ghcr.io/agentworkorders
IMAGE_BUILD_FLAGS ?=
IMAGE_BUILD       := docker buildx build $(IMAGE_BUILD_FLAGS) --build-arg VERSION=$(VERSION) --build-arg CLAUDE_VERSION=$(CLAUDE_VERSION) --build-arg CODEX_VERSION=$(CODEX_VERSION)
images:
	$(IMAGE_BUILD) --target gateway -t $(IMAGE_REPO)/awo-gateway:$(VERSION) .
	$(IMAGE_BUILD) --target orchestrator -t $(IMAGE_REPO)/awo-orchestrator:$(VERSION) .
	$(IMAGE_BUILD) --target executor -t $(IMAGE_REPO)/awo-executor:$(VERSION) .
	$(IMAGE_BUILD) --target github -t $(IMAGE_REPO)/awo-github:$(VERSION) .
	$(IMAGE_BUILD) --target all-in-one -t $(IMAGE_REPO)/awo:$(VERSION) .

## run: the all-in-one in the foreground; Ctrl-C stops it cleanly. The Claude Code CLI is
##      CLAUDE_CLI_PATH when set, else `claude` on the PATH, else the pinned one in ./.tools
##      (installed with `make tools` first when missing)
run: build
	@if [ -n "$$CLAUDE_CLI_PATH" ]; then \
		echo "make run: Claude Code CLI $$CLAUDE_CLI_PATH (CLAUDE_CLI_PATH is set)"; \
	elif command -v claude >/dev/null; then \
		echo "make run: Claude Code CLI $$(command -v claude) (claude is on the PATH)"; \
	else \
		if [ ! -x "$(CLAUDE)" ]; then \
			echo "make run: no claude on the PATH and none in ./.tools: installing the pinned $(CLAUDE_VERSION) (make tools)"; \
			$(MAKE) --no-print-directory tools || exit 1; \
		fi; \
		export CLAUDE_CLI_PATH="$(CLAUDE)"; \
		echo "make run: Claude Code CLI $(CLAUDE) (no claude on the PATH: the pinned $(CLAUDE_VERSION) in ./.tools)"; \
	fi; \
	exec $(BIN)/awo

## tools: the pinned Claude Code CLI and OpenAI Codex CLI (npm) for the end-to-end tests
tools: $(CLAUDE) $(CODEX)

$(CLAUDE):
	@command -v npm >/dev/null || { echo "npm is needed to install the Claude Code CLI (apt-get install nodejs npm)"; exit 1; }
	npm install --prefix $(TOOLS) --no-audit --no-fund @anthropic-ai/claude-code@$(CLAUDE_VERSION)
	@$(CLAUDE) --version

# The codex package brings its binary as the optional dependency
# @openai/codex-linux-x64 (or the one for this platform), which npm installs
# beside it.
$(CODEX):
	@command -v npm >/dev/null || { echo "npm is needed to install the Codex CLI (apt-get install nodejs npm)"; exit 1; }
	npm install --prefix $(TOOLS) --no-audit --no-fund @openai/codex@$(CODEX_VERSION)
	@$(CODEX) --version

vet:
	go vet $(MODULE)/...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## postgres: the PostgreSQL server binaries the tests start throwaway clusters with
postgres:
	@if command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null; then \
		echo "installing PostgreSQL (the tests start throwaway clusters)"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y --no-install-recommends postgresql; \
	else echo "PostgreSQL server binaries (initdb, pg_ctl) are needed by the tests; install PostgreSQL"; exit 1; fi

## chromium: Debian's Chromium, which the browser tests drive headless (nothing is downloaded at test time)
chromium:
	@if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
		echo "installing Chromium (the dashboard's browser tests drive it headless)"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y --no-install-recommends chromium; \
	else echo "Chromium is needed by the browser tests; install it, or set AWO_TEST_CHROMIUM to a Chromium or Chrome binary"; exit 1; fi

## screenshots: the dashboard's pages as the browser tests see them, into docs/screenshots/
screenshots: tools chromium
	mkdir -p $(CURDIR)/docs/screenshots
	AWO_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots go test -count=1 -run '^TestUI$$' $(MODULE)/e2e

## test: everything, with the race detector, against real git, NATS, Postgres and the Claude Code CLI
test: tools postgres chromium fmt-check vet
	go test -race -count=1 -timeout $(TEST_TIMEOUT) $(MODULE)/...
	cd services/gateway && go test -run '^$$' -fuzz '^FuzzAPI$$' -fuzztime 10000x -fuzzminimizetime 1000x ./api

## fuzz: the HTTP API fuzz target (real router, embedded JetStream, memory store) for FUZZTIME
##       (default 2m, or a count such as 50000x); prints the inputs tried and the answers by class
##       (go's "execs" leaves out the runs that minimise new inputs; the count here has them all).
##       Any 5xx or panic fails it, and the failing input is saved under services/gateway/api/testdata
FUZZTIME     ?= 2m
FUZZMINIMIZE ?= 10s
.PHONY: fuzz
fuzz:
	@report=$$(mktemp -d); trap 'rm -rf "$$report"' EXIT; \
	(cd services/gateway && AWO_FUZZ_REPORT="$$report" go test -run '^$$' -fuzz '^FuzzAPI$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./api); status=$$?; \
	cat "$$report"/* 2>/dev/null | awk '{ n[$$1] += $$2 } END { printf "FuzzAPI: %d requests tried: %d answered 2xx, %d 3xx, %d 4xx, %d 5xx\n", n["inputs"], n["2xx"], n["3xx"], n["4xx"], n["5xx"] }'; \
	exit $$status

## bench: the benchmarks (Postgres projection next to a plain insert loop, CLI start-up), then the
##        pipeline benchmark: raw JetStream floor, work orders/s and step hand-off latency without and
##        with git, and 1,000 work orders queued at once, as tables and bench/results.json (CPU
##        profiles beside it); then the history benchmark (100k work orders) and the big-repository
##        benchmark (a generated 50k-file repository); both cache what they generate under
##        $${AWO_BENCH_CACHE:-~/.cache/awo-bench}
bench: tools postgres chromium
	go test -run '^$$' -bench . -benchtime 3s -count 3 $(MODULE)/...
	go run ./bench/cmd/pipeline -out bench/results.json
	go run ./bench/cmd/history -out bench/results.json
	go run ./bench/cmd/bigrepo -out bench/results.json

## chaos: the soak test (build tag chaos): 100 work orders through the real CLI while random services
##        are SIGKILLed and restarted; checks the fault test's invariants and prints its figures.
##        AWO_CHAOS_WORK_ORDERS, AWO_CHAOS_MINUTES (kill budget) and AWO_CHAOS_SEED change the run
chaos: tools
	set -o pipefail; go test -race -tags chaos -count=1 -timeout 60m -run '^TestChaos' -v $(MODULE)/e2e 2>&1 | grep -v 'fakemodel: '

## cluster-test: the node-loss test (build tag cluster): three embedded JetStream nodes, streams with
##               3 replicas, the services as separate processes; while work orders are created every 2 s,
##               the meta leader and then the WORKORDERS_EVENTS leader are stopped and started again.
##               Checks the fault test's invariants, that the copies agree and that creates get only 201
##               or 503 with Retry-After; its figures are the last line. AWO_CLUSTER_WORK_ORDERS: at least
##               that many work orders (16)
.PHONY: cluster-test
cluster-test: tools
	@report=$$(mktemp); trap 'rm -f "$$report"' EXIT; set -o pipefail; \
	AWO_CLUSTER_REPORT="$$report" go test -race -tags cluster -count=1 -timeout 30m -run '^TestClusterNodeLoss' -v $(MODULE)/e2e 2>&1 | grep -v 'fakemodel: '; status=$$?; \
	if [ $$status != 0 ]; then echo "FAILED (exit $$status) $$(cat "$$report")"; else cat "$$report"; fi; exit $$status

clean:
	rm -rf $(BIN)

## nats-cli: the nats CLI into ./.tools/bin, to watch and replay the streams
nats-cli:
	GOBIN=$(TOOLS)/bin go install github.com/nats-io/natscli/nats@v0.5.1

## deploy-check: deploy/ checked without a Docker daemon or a cluster: helm lint of the chart with each
##               values file; the chart rendered (helm template) with each values file and switch, every
##               document decoded strictly into the Kubernetes API types and checked (deploy/helm); the
##               Compose file loaded with compose-go and checked (deploy/compose); the Dockerfile test.
##               Installs helm $(HELM_VERSION) with go install into ./.tools/bin when missing
HELM_VERSION := v4.3.2
HELM         ?= $(TOOLS)/bin/helm
.PHONY: deploy-check
deploy-check: $(HELM)
	@for v in values.yaml values-small.yaml values-large.yaml; do \
		echo "helm lint deploy/helm/awo -f $$v"; \
		$(HELM) lint --strict deploy/helm/awo -f deploy/helm/awo/$$v -f deploy/helm/testdata/secrets.yaml >/dev/null || exit 1; \
	done
	cd deploy && go vet -tags deploycheck ./...
	cd deploy && AWO_HELM=$(HELM) go test -count=1 -tags deploycheck ./...
	@if [ -f Dockerfile ]; then go test -count=1 -run Dockerfile $(MODULE)/e2e/images; \
	else echo "deploy-check: no Dockerfile on this branch yet, so no Dockerfile test"; fi

$(HELM):
	GOBIN=$(dir $(HELM)) go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)
