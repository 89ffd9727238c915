package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// scrapeTimeout bounds the I/O a scrape does (store counts, consumer info):
// a slow dependency makes a series go missing, not the scrape hang.
const scrapeTimeout = 2 * time.Second

// WorkOrderCounter counts work orders; readmodel.Store is one.
type WorkOrderCounter interface {
	Count(ctx context.Context, f readmodel.Filter) (int, error)
}

var workOrdersDesc = prometheus.NewDesc("awo_work_orders",
	"Work orders in the read store, by status, counted at scrape time.", []string{"status"}, nil)

// workOrderCollector asks the read store at every scrape instead of keeping
// a gauge in step with the projector: the store is the truth, and one
// count per status is cheap for memory and Postgres alike.
type workOrderCollector struct{ store WorkOrderCounter }

func (c workOrderCollector) Describe(ch chan<- *prometheus.Desc) { ch <- workOrdersDesc }

func (c workOrderCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for _, s := range workorder.Statuses {
		n, err := c.store.Count(ctx, readmodel.Filter{Status: s})
		if err != nil {
			ch <- prometheus.NewInvalidMetric(workOrdersDesc, fmt.Errorf("counting %s work orders: %w", s, err))
			continue
		}
		ch <- prometheus.MustNewConstMetric(workOrdersDesc, prometheus.GaugeValue, float64(n), string(s))
	}
}

// WatchWorkOrders exposes awo_work_orders{status} from store. Only one
// store can be watched per Metrics (the gateway's).
func (m *Metrics) WatchWorkOrders(store WorkOrderCounter) error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.workOrders {
		return fmt.Errorf("metrics: a work-order store is already watched")
	}
	if err := m.reg.Register(workOrderCollector{store: store}); err != nil {
		return fmt.Errorf("metrics: registering the work-order collector: %w", err)
	}
	m.workOrders = true
	return nil
}

// ConsumerInfoer returns a durable consumer's state; jetstream.JetStream is
// one.
type ConsumerInfoer interface {
	Consumer(ctx context.Context, stream, consumer string) (jetstream.Consumer, error)
}

var (
	pendingDesc = prometheus.NewDesc("awo_consumer_pending_messages",
		"Messages in the stream the durable consumer has not delivered yet.", []string{"consumer"}, nil)
	ackPendingDesc = prometheus.NewDesc("awo_consumer_ack_pending_messages",
		"Messages delivered to the consumer and not acknowledged yet (in progress or awaiting redelivery).", []string{"consumer"}, nil)
)

type watchedConsumer struct {
	js               ConsumerInfoer
	stream, consumer string
}

// consumerCollector reads ConsumerInfo at scrape time; several services of
// one process add their consumers to the same collector.
type consumerCollector struct {
	mu      sync.Mutex
	watched map[string]watchedConsumer // by consumer name
}

func newConsumerCollector() *consumerCollector {
	return &consumerCollector{watched: map[string]watchedConsumer{}}
}

func (c *consumerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- ackPendingDesc
}

func (c *consumerCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	watched := make([]watchedConsumer, 0, len(c.watched))
	for _, w := range c.watched {
		watched = append(watched, w)
	}
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range watched {
		wg.Go(func() {
			info, err := consumerInfo(ctx, w)
			if err != nil {
				ch <- prometheus.NewInvalidMetric(pendingDesc, err)
				return
			}
			ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(info.NumPending), w.consumer)
			ch <- prometheus.MustNewConstMetric(ackPendingDesc, prometheus.GaugeValue, float64(info.NumAckPending), w.consumer)
		})
	}
	wg.Wait()
}

func consumerInfo(ctx context.Context, w watchedConsumer) (*jetstream.ConsumerInfo, error) {
	cons, err := w.js.Consumer(ctx, w.stream, w.consumer)
	if err != nil {
		return nil, fmt.Errorf("looking up consumer %s on %s: %w", w.consumer, w.stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading consumer %s on %s: %w", w.consumer, w.stream, err)
	}
	return info, nil
}

// WatchConsumer exposes awo_consumer_pending_messages and
// awo_consumer_ack_pending_messages for a durable consumer, and starts its
// redelivery and dead-letter counters at zero so alerts on their rate see
// 0, not an absent series. Watching the same consumer name again replaces
// the earlier entry.
func (m *Metrics) WatchConsumer(js ConsumerInfoer, stream, consumer string) {
	if m == nil {
		return
	}
	m.redelivered.WithLabelValues(consumer)
	m.deadLettered.WithLabelValues(consumer)
	m.consumers.mu.Lock()
	defer m.consumers.mu.Unlock()
	m.consumers.watched[consumer] = watchedConsumer{js: js, stream: stream, consumer: consumer}
}
