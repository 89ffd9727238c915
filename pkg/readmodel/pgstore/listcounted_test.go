package pgstore_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// ListCounted is List and Count in one round trip: it must answer what
// the two answer apart, for every shape of filter and page.
func TestStore_ListCountedAnswersAsListAndCount(t *testing.T) {
	ctx := context.Background()
	s := open(t, server.New(t))
	var seq uint64
	for i := range 7 {
		id := workorder.ID(fmt.Sprintf("wo-0000%04d", i))
		seq++
		e := requested(id, seq)
		if i%3 == 0 {
			e.Data.(*events.Requested).RepositoryURL = "https://github.com/acme/other"
		}
		if err := s.Apply(ctx, e); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			seq++
			if err := s.Apply(ctx, event(id, seq, events.TypeStarted, &events.Started{Steps: []workorder.Step{workorder.StepPlanning}})); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range []readmodel.Filter{
		{},
		{Limit: 2},
		{Limit: 2, Offset: 3},
		{Offset: 6},
		{Status: workorder.StatusRunning, Limit: 10},
		{RepositoryURL: "https://github.com/acme/other", Limit: 1, Offset: 1},
		{RepositoryURL: "https://github.com/acme/demo", Status: workorder.StatusPending},
		{RepositoryURL: "https://github.com/acme/none", Limit: 5},
	} {
		got, n, err := s.ListCounted(ctx, f)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		want, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		wantN, err := s.Count(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if n != wantN || !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: ListCounted = %d rows, %d in all; List and Count = %d rows, %d in all", f, len(got), n, len(want), wantN)
		}
		if f.Limit == 0 && n != len(want)+f.Offset && f.Offset < n {
			t.Errorf("%+v: counted %d, listed %d from offset %d", f, n, len(want), f.Offset)
		}
	}
}
