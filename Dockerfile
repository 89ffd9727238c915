# syntax=docker/dockerfile:1
#
# Agent Work Orders images: one builder, one target per binary.
#
#   docker build --target gateway      -t ghcr.io/agentworkorders/awo-gateway:$VERSION      --build-arg VERSION=$VERSION .
#   docker build --target orchestrator -t ghcr.io/agentworkorders/awo-orchestrator:$VERSION --build-arg VERSION=$VERSION .
#   docker build --target executor     -t ghcr.io/agentworkorders/awo-executor:$VERSION     --build-arg VERSION=$VERSION .
#   docker build --target github       -t ghcr.io/agentworkorders/awo-github:$VERSION       --build-arg VERSION=$VERSION .
#   docker build --target all-in-one   -t ghcr.io/agentworkorders/awo:$VERSION              --build-arg VERSION=$VERSION .
#
# `make images` runs exactly these. The builder runs the commands of `make build`
# (static: CGO_ENABLED=0, -trimpath), and deploy_test.go in e2e checks that it
# still does, along with every target's user, ports, entry point and health check.
# Every image runs as uid 10001 ("awo"): one owner for the volumes whichever image
# writes them, and not root, so the Claude Code CLI needs no IS_SANDBOX.

# The agent CLIs the executor images install: the Makefile's CLAUDE_VERSION
# and CODEX_VERSION.
ARG CLAUDE_VERSION=2.1.328
ARG CODEX_VERSION=0.171.0

FROM golang:1.26-bookworm AS builder
ARG VERSION=dev
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    set -eu; \
    ldflags="-X github.com/agentworkorders/awo/pkg/app.Version=${VERSION}"; \
    go build -trimpath -ldflags "$ldflags" -o /out/awo ./cmd/awo; \
    (cd services/gateway && go build -trimpath -ldflags "$ldflags" -o /out/awo-gateway ./cmd/gateway); \
    (cd services/orchestrator && go build -trimpath -ldflags "$ldflags" -o /out/awo-orchestrator ./cmd/orchestrator); \
    (cd services/executor && go build -trimpath -ldflags "$ldflags" -o /out/awo-executor ./cmd/executor); \
    (cd services/github && go build -trimpath -ldflags "$ldflags" -o /out/awo-github ./cmd/github)

# The github service's tools: git and gh from Debian, and the awo user
# owning the data directory.
FROM debian:bookworm-slim AS git-tools
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git gh openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 awo \
    && useradd --uid 10001 --gid 10001 --home-dir /var/lib/awo --create-home --shell /usr/sbin/nologin awo \
    && mkdir -p /var/lib/awo/sandboxes && chown -R awo:awo /var/lib/awo

# The agent's: the same on Node (Claude Code needs Node 22), plus the
# pinned Claude Code CLI at /usr/local/bin/claude and the pinned OpenAI
# Codex CLI at /usr/local/bin/codex (npm brings its native binary as the
# optional dependency for this platform).
FROM node:22-bookworm-slim AS agent-tools
ARG CLAUDE_VERSION
ARG CODEX_VERSION
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git gh openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 awo \
    && useradd --uid 10001 --gid 10001 --home-dir /var/lib/awo --create-home --shell /usr/sbin/nologin awo \
    && mkdir -p /var/lib/awo/sandboxes && chown -R awo:awo /var/lib/awo
RUN npm install -g --no-audit --no-fund @anthropic-ai/claude-code@${CLAUDE_VERSION} \
    && npm cache clean --force \
    && test -x /usr/local/bin/claude \
    && claude --version
RUN npm install -g --no-audit --no-fund @openai/codex@${CODEX_VERSION} \
    && npm cache clean --force \
    && test -x /usr/local/bin/codex \
    && codex --version

# ---- gateway: the REST API, the dashboard and the read-model projector ----
FROM gcr.io/distroless/static-debian12:nonroot AS gateway
ARG VERSION=dev
LABEL org.opencontainers.image.title="awo-gateway" \
      org.opencontainers.image.description="Agent Work Orders: REST API, dashboard and read-model projector" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/agentworkorders/awo"
COPY --from=builder /out/awo-gateway /usr/local/bin/awo-gateway
ENV AGENT_WORK_ORDERS_HOST=0.0.0.0 AGENT_WORK_ORDERS_PORT=8053
USER 10001:10001
EXPOSE 8053
HEALTHCHECK --interval=15s --timeout=12s --start-period=30s --retries=3 CMD ["/usr/local/bin/awo-gateway", "-healthcheck"]
ENTRYPOINT ["/usr/local/bin/awo-gateway"]

# ---- orchestrator: decides every work order's next step ----
FROM gcr.io/distroless/static-debian12:nonroot AS orchestrator
ARG VERSION=dev
LABEL org.opencontainers.image.title="awo-orchestrator" \
      org.opencontainers.image.description="Agent Work Orders: the orchestrator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/agentworkorders/awo"
COPY --from=builder /out/awo-orchestrator /usr/local/bin/awo-orchestrator
ENV AWO_METRICS_LISTEN=0.0.0.0:9464
USER 10001:10001
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=12s --start-period=30s --retries=3 CMD ["/usr/local/bin/awo-orchestrator", "-healthcheck"]
ENTRYPOINT ["/usr/local/bin/awo-orchestrator"]

# ---- executor: runs the agent steps with the Claude Code or Codex CLI ----
FROM agent-tools AS executor
ARG VERSION=dev
LABEL org.opencontainers.image.title="awo-executor" \
      org.opencontainers.image.description="Agent Work Orders: runs agent steps with the Claude Code or Codex CLI, git and gh" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/agentworkorders/awo"
COPY --from=builder /out/awo-executor /usr/local/bin/awo-executor
ENV AWO_METRICS_LISTEN=0.0.0.0:9464 \
    AWO_DATA_DIR=/var/lib/awo \
    AGENT_WORK_ORDER_TEMP_DIR=/var/lib/awo/sandboxes \
    CLAUDE_CLI_PATH=/usr/local/bin/claude \
    CODEX_CLI_PATH=/usr/local/bin/codex \
    HOME=/var/lib/awo
USER 10001:10001
WORKDIR /var/lib/awo
VOLUME /var/lib/awo/sandboxes
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=12s --start-period=60s --retries=3 CMD ["/usr/local/bin/awo-executor", "-healthcheck"]
ENTRYPOINT ["/usr/local/bin/awo-executor"]

# ---- github: opens the pull requests and reads issues with gh ----
FROM git-tools AS github
ARG VERSION=dev
LABEL org.opencontainers.image.title="awo-github" \
      org.opencontainers.image.description="Agent Work Orders: GitHub operations with gh and git" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/agentworkorders/awo"
COPY --from=builder /out/awo-github /usr/local/bin/awo-github
ENV AWO_METRICS_LISTEN=0.0.0.0:9464 \
    AWO_DATA_DIR=/var/lib/awo \
    AGENT_WORK_ORDER_TEMP_DIR=/var/lib/awo/sandboxes \
    HOME=/var/lib/awo
USER 10001:10001
WORKDIR /var/lib/awo
VOLUME /var/lib/awo/sandboxes
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=12s --start-period=30s --retries=3 CMD ["/usr/local/bin/awo-github", "-healthcheck"]
ENTRYPOINT ["/usr/local/bin/awo-github"]

# ---- all-in-one: every service and an embedded NATS in one process ----
FROM agent-tools AS all-in-one
ARG VERSION=dev
LABEL org.opencontainers.image.title="awo" \
      org.opencontainers.image.description="Agent Work Orders all-in-one: every service with an embedded NATS JetStream, and the awo CLI" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/agentworkorders/awo"
COPY --from=builder /out/awo /usr/local/bin/awo
ENV AGENT_WORK_ORDERS_HOST=0.0.0.0 AGENT_WORK_ORDERS_PORT=8053 \
    AWO_METRICS_LISTEN=0.0.0.0:9464 \
    AWO_DATA_DIR=/var/lib/awo \
    AGENT_WORK_ORDER_TEMP_DIR=/var/lib/awo/sandboxes \
    CLAUDE_CLI_PATH=/usr/local/bin/claude \
    CODEX_CLI_PATH=/usr/local/bin/codex \
    HOME=/var/lib/awo
USER 10001:10001
WORKDIR /var/lib/awo
VOLUME /var/lib/awo
EXPOSE 8053 9464
HEALTHCHECK --interval=15s --timeout=12s --start-period=60s --retries=3 CMD ["/usr/local/bin/awo", "-healthcheck"]
ENTRYPOINT ["/usr/local/bin/awo"]
