package readmodel

import (
	"reflect"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// fill sets every field of the struct v points to a distinct non-zero
// value, so that a field pack forgets (one added to WorkOrder or
// StepRecord later) fails its round trip instead of vanishing from
// finished rows and from snapshots, which carry rows packed.
func fill(t *testing.T, v reflect.Value, seed *int) {
	t.Helper()
	zone := time.FixedZone("", 2*3600)
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		*seed++
		n := *seed
		switch f.Interface().(type) {
		case string, workorder.ID, workorder.Status, workorder.SandboxType, workorder.Step:
			f.SetString(name + " value é\x00")
		case *string:
			s := name + " text"
			f.Set(reflect.ValueOf(&s))
		case bool:
			f.SetBool(true)
		case int, int64:
			f.SetInt(int64(-1000 * n))
		case uint64:
			f.SetUint(uint64(1<<40 + n))
		case float64:
			f.SetFloat(float64(n) + 0.125)
		case *float64:
			x := float64(n) / 3
			f.Set(reflect.ValueOf(&x))
		case time.Time:
			f.Set(reflect.ValueOf(time.Date(2026, 12, 6, 7, n, 3, 123456789, zone)))
		case *time.Time:
			at := time.Date(2027, 1, 2, 3, 4, n, 0, time.UTC)
			f.Set(reflect.ValueOf(&at))
		case []workorder.Step:
			f.Set(reflect.ValueOf([]workorder.Step{workorder.StepCreateBranch, workorder.StepCommit}))
		default:
			t.Fatalf("%s.%s: fill knows no %s; teach it and memory_pack.go the new field", v.Type(), name, f.Type())
		}
	}
}

func TestPack_RoundTripsEveryField(t *testing.T) {
	var seed int
	var wo WorkOrder
	fill(t, reflect.ValueOf(&wo).Elem(), &seed)
	steps := make([]StepRecord, 3)
	for i := range steps {
		fill(t, reflect.ValueOf(&steps[i]).Elem(), &seed)
	}
	steps[1].Output, steps[1].SessionID = nil, nil // absent differs from empty

	b := pack(wo, steps)
	got, err := unpackWorkOrder(b, wo.RepositoryURL, wo.Status)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wo) {
		t.Errorf("work order:\n got %+v\nwant %+v", got, wo)
	}
	gotSteps, err := unpackSteps(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotSteps, steps) {
		t.Errorf("steps:\n got %+v\nwant %+v", gotSteps, steps)
	}
}

func TestPack_KeepsNilApartFromEmpty(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cmds  []workorder.Step
		steps []StepRecord
	}{
		{"nil", nil, []StepRecord{}},
		{"empty", []workorder.Step{}, []StepRecord{{Output: new(string)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wo := WorkOrder{AgentWorkOrderID: "wo-1", SelectedCommands: tc.cmds, Status: workorder.StatusCompleted}
			b := pack(wo, tc.steps)
			got, err := unpackWorkOrder(b, "", workorder.StatusCompleted)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, wo) {
				t.Errorf("work order: got %#v, want %#v", got, wo)
			}
			gotSteps, err := unpackSteps(b)
			if err != nil || !reflect.DeepEqual(gotSteps, tc.steps) {
				t.Errorf("steps: got %#v (%v), want %#v", gotSteps, err, tc.steps)
			}
		})
	}
}

func TestPack_RefusesCorruptBytes(t *testing.T) {
	steps := []StepRecord{{Step: workorder.StepCommit, Output: new(string)}}
	b := pack(WorkOrder{AgentWorkOrderID: "wo-1", UserRequest: "fix it"}, steps)
	for n := range len(b) {
		if _, err := unpackWorkOrder(b[:n], "", ""); err == nil {
			if _, err := unpackSteps(b[:n]); err == nil {
				t.Errorf("the first %d of %d bytes decoded without an error", n, len(b))
			}
		}
	}
}
