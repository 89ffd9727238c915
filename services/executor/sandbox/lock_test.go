package sandbox

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestLock_ExcludesGoroutinesAndForgetsUnusedEntries(t *testing.T) {
	m := &Manager{}
	path := filepath.Join(t.TempDir(), "lock")
	var inside, maxInside atomic.Int32
	done := make(chan error)
	for range 8 {
		go func() {
			unlock, err := m.lock(t.Context(), path)
			if err != nil {
				done <- err
				return
			}
			n := inside.Add(1)
			if n > maxInside.Load() {
				maxInside.Store(n)
			}
			time.Sleep(2 * time.Millisecond)
			inside.Add(-1)
			unlock()
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if maxInside.Load() != 1 {
		t.Errorf("%d holders at once", maxInside.Load())
	}
	if len(m.locks) != 0 {
		t.Errorf("%d lock entries kept after every holder left", len(m.locks))
	}
}

func TestLock_OtherManagerWaitsOnTheFileAndGivesUpWithItsContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	a, b := &Manager{}, &Manager{}
	unlock, err := a.lock(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := b.lock(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second manager got the lock while it was held: %v", err)
	}
	if len(b.locks) != 0 {
		t.Error("a waiter that gave up left its entry behind")
	}

	unlock()
	unlockB, err := b.lock(t.Context(), path)
	if err != nil {
		t.Fatalf("lock not free after unlock: %v", err)
	}
	unlockB()
}

func TestLock_WaiterInTheSameManagerGivesUpWithItsContext(t *testing.T) {
	m := &Manager{}
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := m.lock(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := m.lock(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline", err)
	}
	if e := m.locks[path]; e == nil || e.refs != 1 {
		t.Errorf("entry after a waiter gave up = %+v, want only the holder", e)
	}
}
