package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/agentworkorders/awo/pkg/metrics"
)

func TestProjectionRejected_Counts(t *testing.T) {
	m := metrics.New()
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP awo_projection_rejected_total Events the read store refused as data (e.g. a NUL byte Postgres cannot store), dead-lettered to WORKORDERS_DLQ and skipped by the projection.
# TYPE awo_projection_rejected_total counter
awo_projection_rejected_total 0
`), "awo_projection_rejected_total"); err != nil {
		t.Errorf("before any rejection: %v", err)
	}
	m.ProjectionRejected()
	m.ProjectionRejected()
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP awo_projection_rejected_total Events the read store refused as data (e.g. a NUL byte Postgres cannot store), dead-lettered to WORKORDERS_DLQ and skipped by the projection.
# TYPE awo_projection_rejected_total counter
awo_projection_rejected_total 2
`), "awo_projection_rejected_total"); err != nil {
		t.Error(err)
	}
	var none *metrics.Metrics
	none.ProjectionRejected() // a nil Metrics records nothing, and does not panic
}
