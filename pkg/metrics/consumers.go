package metrics

import (
	"context"
	"fmt"
)

// CheckConsumer tells whether the durable consumer is bound in this
// process: its service has watched it (WatchConsumer, which the services
// call once the consumer is created, right before consuming) and its state
// can be read from JetStream now. A worker's /readyz asks it; a consumer
// another replica made does not count until this process's service has
// reached it.
func (m *Metrics) CheckConsumer(ctx context.Context, consumer string) error {
	if m == nil {
		return fmt.Errorf("consumer %s: no metrics registry to know it by", consumer)
	}
	m.consumers.mu.Lock()
	w, ok := m.consumers.watched[consumer]
	m.consumers.mu.Unlock()
	if !ok {
		return fmt.Errorf("consumer %s is not bound yet (the service is starting)", consumer)
	}
	_, err := consumerInfo(ctx, w)
	return err
}
