package repocheck_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/repocheck"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
)

func serve(t *testing.T, nc *nats.Conn, check repocheck.CheckFunc) func() {
	t.Helper()
	stop, err := repocheck.Serve(nc, check)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return stop
}

func TestVerify_AnswersFromTheServer(t *testing.T) {
	env := natstest.StartEmpty(t)
	srvConn, _ := env.Client(t, "github")
	serve(t, srvConn, func(_ context.Context, url string) (repocheck.Result, error) {
		switch url {
		case "https://github.com/acme/demo":
			return repocheck.Result{Accessible: true, Name: "acme/demo", Owner: "acme", DefaultBranch: "main"}, nil
		case "https://github.com/acme/gone":
			return repocheck.Result{ErrorMessage: "not found"}, nil
		}
		return repocheck.Result{}, errors.New("gh: HTTP 503")
	})
	c := repocheck.NewClient(env.NC, 5*time.Second)
	ctx := context.Background()

	got, err := c.Verify(ctx, "https://github.com/acme/demo")
	if err != nil || got != (repocheck.Result{Accessible: true, Name: "acme/demo", Owner: "acme", DefaultBranch: "main"}) {
		t.Fatalf("accessible: got %+v, %v", got, err)
	}
	got, err = c.Verify(ctx, "https://github.com/acme/gone")
	if err != nil || got.Accessible || got.ErrorMessage != "not found" {
		t.Fatalf("not found: got %+v, %v", got, err)
	}
	_, err = c.Verify(ctx, "https://github.com/acme/down")
	if !errors.Is(err, repocheck.ErrUnavailable) || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("down: err = %v, want ErrUnavailable with the server's reason", err)
	}
}

func TestVerify_NoResponderIsUnavailable(t *testing.T) {
	env := natstest.StartEmpty(t)
	start := time.Now()
	_, err := repocheck.NewClient(env.NC, 5*time.Second).Verify(context.Background(), "https://github.com/acme/demo")
	if !errors.Is(err, repocheck.ErrUnavailable) || !strings.Contains(err.Error(), "no github service") {
		t.Fatalf("err = %v, want ErrUnavailable naming the missing github service", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("no responders took %s; NATS says so at once", time.Since(start))
	}
}

func TestVerify_SilentResponderTimesOut(t *testing.T) {
	env := natstest.StartEmpty(t)
	sub, err := env.NC.SubscribeSync(repocheck.Subject) // receives, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	start := time.Now()
	_, err = repocheck.NewClient(env.NC, 200*time.Millisecond).Verify(context.Background(), "https://github.com/acme/demo")
	if !errors.Is(err, repocheck.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer within 200ms") {
		t.Fatalf("err = %v, want ErrUnavailable after the timeout", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("gave up after %s, want about 200ms", d)
	}
}

func TestVerify_CallerGivingUpIsNotUnavailable(t *testing.T) {
	env := natstest.StartEmpty(t)
	release := make(chan struct{})
	defer close(release)
	serve(t, env.NC, func(ctx context.Context, _ string) (repocheck.Result, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return repocheck.Result{}, ctx.Err()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := repocheck.NewClient(env.NC, 5*time.Second).Verify(ctx, "https://github.com/acme/demo")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, repocheck.ErrUnavailable) {
		t.Fatalf("err = %v, want the caller's deadline, not ErrUnavailable", err)
	}
}

func TestServe_OneReplicaAnswersEachCheck(t *testing.T) {
	env := natstest.StartEmpty(t)
	var calls atomic.Int32
	check := func(context.Context, string) (repocheck.Result, error) {
		calls.Add(1)
		return repocheck.Result{Accessible: true}, nil
	}
	for _, name := range []string{"github-1", "github-2", "github-3"} {
		nc, _ := env.Client(t, name)
		serve(t, nc, check)
	}
	c := repocheck.NewClient(env.NC, 5*time.Second)
	for range 10 {
		if _, err := c.Verify(context.Background(), "https://github.com/acme/demo"); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a second answerer would have run by now
	if n := calls.Load(); n != 10 {
		t.Fatalf("10 checks ran %d times over 3 replicas, want 10 (a queue group)", n)
	}
}

func TestServe_StopCancelsChecksInProgress(t *testing.T) {
	env := natstest.StartEmpty(t)
	started := make(chan struct{})
	stop := serve(t, env.NC, func(ctx context.Context, _ string) (repocheck.Result, error) {
		close(started)
		<-ctx.Done()
		return repocheck.Result{}, errors.New("stopped: " + ctx.Err().Error())
	})
	errc := make(chan error, 1)
	go func() {
		_, err := repocheck.NewClient(env.NC, 5*time.Second).Verify(context.Background(), "https://github.com/acme/demo")
		errc <- err
	}()
	<-started
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return while a check was in progress")
	}
	if err := <-errc; !errors.Is(err, repocheck.ErrUnavailable) || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("err = %v, want the stopped check's unavailable answer", err)
	}
	_, err := repocheck.NewClient(env.NC, time.Second).Verify(context.Background(), "https://github.com/acme/demo")
	if !errors.Is(err, repocheck.ErrUnavailable) {
		t.Fatalf("after stop: err = %v, want ErrUnavailable", err)
	}
}

func TestServe_RequiresConnAndCheck(t *testing.T) {
	if _, err := repocheck.Serve(nil, func(context.Context, string) (repocheck.Result, error) { return repocheck.Result{}, nil }); err == nil {
		t.Fatal("Serve(nil conn) succeeded")
	}
}
