package cachelock

import (
	"path/filepath"
	"testing"
	"time"
)

// A second holder waits until the first releases.
func TestHold_SecondWaitsForTheFirst(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	release, err := Hold(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		r, err := Hold(dir)
		if err != nil {
			t.Error(err)
		} else {
			r()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("the second Hold returned while the first held the lock")
	case <-time.After(200 * time.Millisecond):
	}
	release()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the second Hold did not return after the release")
	}
}
