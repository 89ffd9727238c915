// Package helm holds the tests of the chart in deploy/helm/awo. The chart is
// rendered with the helm binary named by AWO_HELM (make deploy-check
// installs it and sets it), and every rendered document is decoded strictly
// into the Kubernetes API types: an unknown or misspelt field, a duplicate
// key or a wrong type fails. Those tests carry the build tag deploycheck, so
// that make test does not compile the Kubernetes API types; the ones here
// need neither helm nor those types.
package helm

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/agentworkorders/awo/deploy/internal/awoenv"
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

// TestChart_NATSImageIsTheTestedServer: the built-in cluster runs the
// nats-server version the tests embed (pkg/go.mod).
func TestChart_NATSImageIsTheTestedServer(t *testing.T) {
	want, err := awoenv.NATSServerVersion(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		NATS struct {
			Image struct{ Repository, Tag string }
		}
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if got := v.NATS.Image.Repository + ":" + v.NATS.Image.Tag; got != "nats:"+want+"-alpine" {
		t.Errorf("values.yaml runs NATS %s; the tests run nats-server %s (pkg/go.mod): use nats:%s-alpine", got, want, want)
	}
}
