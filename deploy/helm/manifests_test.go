//go:build deploycheck

package helm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	secretsFile = "testdata/secrets.yaml"
	release     = "awo"
	namespace   = "awo"
)

// scaledObject is the part of KEDA's ScaledObject (keda.sh/v1alpha1) the
// chart writes; KEDA's module is too large to import for one type. Strict
// decoding still rejects any field the chart writes that is not here.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		PollingInterval *int32 `json:"pollingInterval"`
		CooldownPeriod  *int32 `json:"cooldownPeriod"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// manifests are the decoded documents of one rendering, by name.
type manifests struct {
	deployments     map[string]*appsv1.Deployment
	statefulSets    map[string]*appsv1.StatefulSet
	services        map[string]*corev1.Service
	secrets         map[string]*corev1.Secret
	configMaps      map[string]*corev1.ConfigMap
	pdbs            map[string]*policyv1.PodDisruptionBudget
	serviceMonitors map[string]*monitoringv1.ServiceMonitor
	scaledObjects   map[string]*scaledObject
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decode splits helm's output into documents and decodes each strictly
// into the type of its apiVersion and kind; a kind the chart is not meant
// to render is an error.
func decode(out []byte) (*manifests, error) {
	m := &manifests{
		deployments: map[string]*appsv1.Deployment{}, statefulSets: map[string]*appsv1.StatefulSet{},
		services: map[string]*corev1.Service{}, secrets: map[string]*corev1.Secret{},
		configMaps: map[string]*corev1.ConfigMap{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		serviceMonitors: map[string]*monitoringv1.ServiceMonitor{}, scaledObjects: map[string]*scaledObject{},
	}
	for _, doc := range docSeparator.Split(string(out), -1) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("document %q: %w", head(doc), err)
		}
		if tm.Kind == "" && tm.APIVersion == "" {
			continue // only comments
		}
		var err error
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			err = decodeInto(doc, m.deployments, &appsv1.Deployment{})
		case "apps/v1 StatefulSet":
			err = decodeInto(doc, m.statefulSets, &appsv1.StatefulSet{})
		case "v1 Service":
			err = decodeInto(doc, m.services, &corev1.Service{})
		case "v1 Secret":
			err = decodeInto(doc, m.secrets, &corev1.Secret{})
		case "v1 ConfigMap":
			err = decodeInto(doc, m.configMaps, &corev1.ConfigMap{})
		case "policy/v1 PodDisruptionBudget":
			err = decodeInto(doc, m.pdbs, &policyv1.PodDisruptionBudget{})
		case "monitoring.coreos.com/v1 ServiceMonitor":
			err = decodeInto(doc, m.serviceMonitors, &monitoringv1.ServiceMonitor{})
		case "keda.sh/v1alpha1 ScaledObject":
			err = decodeInto(doc, m.scaledObjects, &scaledObject{})
		default:
			err = fmt.Errorf("unexpected %s %s", tm.APIVersion, tm.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", tm.Kind, head(doc), err)
		}
	}
	return m, nil
}

// decodeInto decodes doc strictly into obj and files it under its name.
func decodeInto[T interface{ GetName() string }](doc string, byName map[string]T, obj T) error {
	if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
		return err
	}
	name := obj.GetName()
	if name == "" {
		return fmt.Errorf("no metadata.name")
	}
	if _, dup := byName[name]; dup {
		return fmt.Errorf("a second document of this kind named %s", name)
	}
	byName[name] = obj
	return nil
}

func head(doc string) string {
	doc = strings.TrimSpace(doc)
	if len(doc) > 120 {
		doc = doc[:120] + "..."
	}
	return doc
}

// helmBin is the helm binary the tests render with.
func helmBin(t *testing.T) string {
	t.Helper()
	h := os.Getenv("AWO_HELM")
	if h == "" {
		t.Fatal("AWO_HELM must name a helm binary: `make deploy-check` installs helm and sets it")
	}
	return h
}

// render runs helm template on the chart with the test secrets and args,
// keeping the output in the test's directory for a failing run.
func render(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	// The secrets file comes last: a values file given before it keeps its
	// settings, and its empty secrets do not blank the test ones.
	cmd := exec.Command(helmBin(t), append(append([]string{"template", release, chartDir,
		"--namespace", namespace}, args...), "-f", secretsFile)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	_ = os.WriteFile(filepath.Join(t.TempDir(), "rendered.yaml"), out, 0o644)
	return out, nil
}

func mustRender(t *testing.T, args ...string) *manifests {
	t.Helper()
	out, err := render(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decode(out)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	return m
}
