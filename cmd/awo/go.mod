module github.com/agentworkorders/awo/cmd/awo

go 1.26

require github.com/agentworkorders/awo/pkg v0.0.0

replace github.com/agentworkorders/awo/pkg => ../../pkg

require (
	github.com/agentworkorders/awo/services/executor v0.0.0
	github.com/agentworkorders/awo/services/gateway v0.0.0
	github.com/agentworkorders/awo/services/github v0.0.0
	github.com/agentworkorders/awo/services/orchestrator v0.0.0
)

replace (
	github.com/agentworkorders/awo/services/executor => ../../services/executor
	github.com/agentworkorders/awo/services/gateway => ../../services/gateway
	github.com/agentworkorders/awo/services/github => ../../services/github
	github.com/agentworkorders/awo/services/orchestrator => ../../services/orchestrator
)
