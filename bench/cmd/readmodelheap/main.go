// Command readmodelheap measures what the memory read model itself holds
// for a history (issue 17): it folds the history benchmark's generated
// events, each through the real codec as the projector receives them,
// into a readmodel.Memory in this process, and prints the live heap the
// store keeps after a GC, per work order, with the time the fold took.
// Cheaper than starting the all-in-one on the 100,000-work-order store,
// and without the rest of the process's heap in the figure.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/agentworkorders/awo/bench/internal/history"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
)

func main() {
	n := flag.Int("work-orders", history.DefaultWorkload.WorkOrders, "work orders in the history")
	memprofile := flag.String("memprofile", "", "write a heap profile here after the fold (go tool pprof -sample_index=inuse_space)")
	flag.Parse()
	w := history.DefaultWorkload
	w.WorkOrders = *n
	ctx := context.Background()
	before := liveHeap()
	m := readmodel.NewMemory()
	var fold time.Duration
	sum, err := w.Generate(func(e events.Event) error {
		msg, err := events.Encode(e, bus.EventSubject(e.WorkOrderID, e.Type))
		if err != nil {
			return err
		}
		d, err := events.Decode(msg.Header, msg.Data)
		if err != nil {
			return err
		}
		d.Seq = e.Seq
		start := time.Now()
		err = m.Apply(ctx, d)
		fold += time.Since(start)
		return err
	})
	if err != nil {
		log.Fatalf("readmodelheap: %v", err)
	}
	held := liveHeap() - before
	fmt.Printf("%d work orders, %d events: the memory read model holds %.1f MB (%.0f bytes a work order); Apply took %s (%.2f µs an event)\n",
		*n, sum.Events, float64(held)/(1<<20), float64(held)/float64(*n), fold.Round(time.Millisecond),
		float64(fold.Microseconds())/float64(sum.Events))
	if *memprofile != "" {
		if err := writeHeapProfile(*memprofile); err != nil {
			log.Fatalf("readmodelheap: %v", err)
		}
	}
	runtime.KeepAlive(m)
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
