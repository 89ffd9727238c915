module github.com/agentworkorders/awo/services/gateway

go 1.26

require (
	github.com/agentworkorders/awo/pkg v0.0.0
	github.com/go-chi/chi/v5 v5.5.0
	github.com/nats-io/nats.go v1.55.0
)

replace github.com/agentworkorders/awo/pkg => ../../pkg
