package lru_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/agentworkorders/awo/services/orchestrator/internal/lru"
)

func TestCache_EvictsTheLeastRecentlyUsed(t *testing.T) {
	c := lru.New[string, int](2)
	c.Put("a", 1)
	c.Put("b", 2)
	if v, ok := c.Get("a"); !ok || v != 1 { // a is now the most recent
		t.Fatalf("Get(a) = %d, %v", v, ok)
	}
	c.Put("c", 3)
	if _, ok := c.Get("b"); ok {
		t.Error("b should have been evicted: it was used least recently")
	}
	for k, want := range map[string]int{"a": 1, "c": 3} {
		if v, ok := c.Get(k); !ok || v != want {
			t.Errorf("Get(%s) = %d, %v; want %d", k, v, ok, want)
		}
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d", c.Len())
	}
}

func TestCache_PutReplacesAndRemoveForgets(t *testing.T) {
	c := lru.New[string, int](2)
	c.Put("a", 1)
	c.Put("a", 2)
	if v, _ := c.Get("a"); v != 2 || c.Len() != 1 {
		t.Fatalf("after replacing: Get(a) = %d, Len = %d", v, c.Len())
	}
	c.Remove("a")
	c.Remove("never there")
	if _, ok := c.Get("a"); ok || c.Len() != 0 {
		t.Fatal("Remove did not forget a")
	}
}

func TestCache_ConcurrentUseStaysWithinCapacity(t *testing.T) {
	c := lru.New[string, int](16)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := fmt.Sprint(g, i%40)
				c.Put(k, i)
				c.Get(k)
				if i%7 == 0 {
					c.Remove(k)
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() > 16 {
		t.Fatalf("Len = %d beyond capacity 16", c.Len())
	}
}
