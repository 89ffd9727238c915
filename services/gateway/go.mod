module github.com/agentworkorders/awo/services/gateway

go 1.26

require github.com/agentworkorders/awo/pkg v0.0.0

replace github.com/agentworkorders/awo/pkg => ../../pkg
