package health

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/discovery"
)

// SectionServices lists the awo services registered as NATS micro services.
const SectionServices = "services"

// servicesKey holds the []discovery.Instance in the section's fields.
const servicesKey = "instances"

// ServicesPrefix is the name prefix every awo micro service shares.
const ServicesPrefix = "awo-"

// ServicesProbe asks NATS which awo services are running ($SRV.PING),
// waiting wait for the answers. Not critical: the list is for operators,
// and a missing replica shows in the other probes when it matters.
func ServicesProbe(nc *nats.Conn, wait time.Duration) Probe {
	return Probe{Name: SectionServices, OKKey: "-", TopLevel: true, Check: func(ctx context.Context) Result {
		list, err := discovery.List(ctx, nc, ServicesPrefix, wait)
		if err != nil {
			return Result{Fields: map[string]any{servicesKey: []discovery.Instance{}, "error": err.Error()}}
		}
		return Result{OK: true, Fields: map[string]any{servicesKey: list}}
	}}
}

// ServicesIn returns the services a report found; empty, never nil, when
// it has none.
func ServicesIn(r Report) []discovery.Instance {
	if list, ok := r.Sections[SectionServices][servicesKey].([]discovery.Instance); ok && list != nil {
		return list
	}
	return []discovery.Instance{}
}
