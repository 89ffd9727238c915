// Package raw measures the JetStream floor the pipeline is built on: what
// one publish-and-consume round trip and one synchronous publish cost on
// this machine, with no work-order logic at all.
package raw

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/bench/internal/stats"
	"github.com/agentworkorders/awo/pkg/bus"
)

// Stream is the scratch stream the floor is measured on, configured like
// WORKORDERS_EVENTS (file storage, a duplicate window) so the comparison is
// like for like.
const Stream = "BENCH_RAW"

const subjectPrefix = "bench.raw."

// Result is the floor.
type Result struct {
	// RoundTrip runs from the start of a synchronous publish to the
	// message's arrival at a durable pull consumer on another connection,
	// one message at a time.
	RoundTrip stats.Summary `json:"round_trip"`
	// PublishAck is the synchronous publish alone: until the stream's ack.
	PublishAck stats.Summary `json:"publish_ack"`
	// SyncPublishPerSec is sequential synchronous publishes per second.
	SyncPublishPerSec float64 `json:"sync_publish_per_sec"`
}

// Measure runs n round trips and n synchronous publishes. pub and sub are
// separate connections, as a publishing and a consuming service have.
func Measure(ctx context.Context, pub, sub jetstream.JetStream, n int) (Result, error) {
	if _, err := pub.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: Stream, Subjects: []string{subjectPrefix + ">"},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute,
	}); err != nil {
		return Result{}, fmt.Errorf("creating stream %s: %w", Stream, err)
	}
	var r Result
	rtt, ack, err := roundTrips(ctx, pub, sub, n)
	if err != nil {
		return Result{}, err
	}
	r.RoundTrip, r.PublishAck = stats.Summarize(rtt), stats.Summarize(ack)
	if r.SyncPublishPerSec, err = publishRate(ctx, pub, n); err != nil {
		return Result{}, err
	}
	return r, nil
}

func roundTrips(ctx context.Context, pub, sub jetstream.JetStream, n int) (rtt, ack []time.Duration, err error) {
	cons, err := sub.CreateOrUpdateConsumer(ctx, Stream, jetstream.ConsumerConfig{
		Durable: "bench-rtt", FilterSubject: subjectPrefix + "rtt",
		AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("creating the round-trip consumer: %w", err)
	}
	// The same iterator the services' consumer wrapper uses: without the
	// renewed pull, a pull lost now and then left a round trip waiting
	// past the 10 s below.
	it, err := cons.Messages(jetstream.PullMaxMessages(1), jetstream.PullExpiry(bus.PullWait))
	if err != nil {
		return nil, nil, fmt.Errorf("consuming round trips: %w", err)
	}
	defer it.Stop()
	arrived := make(chan time.Time, 1)
	go func() {
		for {
			msg, err := it.Next()
			if err != nil {
				close(arrived)
				return
			}
			at := time.Now()
			_ = msg.Ack()
			arrived <- at
		}
	}()

	// Warm up connections, consumer and file store before timing.
	const warmup = 50
	for i := range n + warmup {
		msg := nats.NewMsg(subjectPrefix + "rtt")
		msg.Header.Set(nats.MsgIdHdr, "rtt-"+strconv.Itoa(i))
		msg.Data = []byte(`{"work_order_id":"wo-00000000","step":"planning"}`)
		start := time.Now()
		if _, err := pub.PublishMsg(ctx, msg); err != nil {
			return nil, nil, fmt.Errorf("publishing round trip %d: %w", i, err)
		}
		acked := time.Now()
		select {
		case at, ok := <-arrived:
			if !ok {
				return nil, nil, errors.New("the round-trip consumer stopped")
			}
			if i >= warmup {
				rtt = append(rtt, at.Sub(start))
				ack = append(ack, acked.Sub(start))
			}
		case <-time.After(10 * time.Second):
			return nil, nil, fmt.Errorf("round trip %d: message not delivered within 10s", i)
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	return rtt, ack, nil
}

func publishRate(ctx context.Context, pub jetstream.JetStream, n int) (float64, error) {
	msg := func(i int) *nats.Msg {
		m := nats.NewMsg(subjectPrefix + "rate")
		m.Header.Set(nats.MsgIdHdr, "rate-"+strconv.Itoa(i))
		m.Data = []byte(`{"work_order_id":"wo-00000000","step":"planning"}`)
		return m
	}
	start := time.Now()
	for i := range n {
		if _, err := pub.PublishMsg(ctx, msg(i)); err != nil {
			return 0, fmt.Errorf("publishing %d: %w", i, err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
