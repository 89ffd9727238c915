// Package helm holds the tests of the chart in deploy/helm/awo. The chart is
// rendered with the helm binary named by AWO_HELM (make deploy-check
// installs it and sets it), and every
// rendered document is decoded strictly into the Kubernetes API types:
// an unknown or misspelt field, a duplicate key or a wrong type fails.
// Those tests carry the build tag deploycheck (make deploy-check), so that
// make test does not compile the Kubernetes API types.
package helm

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// chartDir is the chart, relative to this package.
const chartDir = "awo"

// TestChart_AwoConfIsDeployNATS: the chart ships a copy of
// deploy/nats/awo.conf (Helm reads only files inside the chart); the two
// must not drift apart.
func TestChart_AwoConfIsDeployNATS(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join("..", "nats", "awo.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := os.ReadFile(filepath.Join(chartDir, "files", "awo.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(orig, cp) {
		t.Fatal("deploy/helm/awo/files/awo.conf differs from deploy/nats/awo.conf: cp deploy/nats/awo.conf deploy/helm/awo/files/awo.conf")
	}
}
