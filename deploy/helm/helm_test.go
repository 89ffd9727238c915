//go:build deploycheck

package helm

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// chartSecret is the Secret the chart renders for release "awo".
const chartSecret = "awo-secrets"

var defaults = expectations{secretName: chartSecret, chartSecret: true, natsAuth: true, streamReplicas: 3}

// TestChart_Renders renders the chart with each values file and the
// switches an operator turns, decodes every document strictly and checks it.
func TestChart_Renders(t *testing.T) {
	helmBin(t)
	large := defaults
	large.keda, large.serviceMonitor = true, true
	for _, tc := range []struct {
		name string
		args []string
		want expectations
	}{
		{"default values", nil, defaults},
		{"values-small.yaml", []string{"-f", chartDir + "/values-small.yaml"}, defaults},
		{"values-large.yaml", []string{"-f", chartDir + "/values-large.yaml", "--set", "secrets.databaseURL=postgres://awo:x@db:5432/awo"}, large},
		{"existing secret", []string{"--set", "existingSecret=awo-managed"},
			expectations{secretName: "awo-managed", natsAuth: true, streamReplicas: 3}},
		{"external NATS without auth", []string{"--set", "nats.external.url=nats://a:4222\\,nats://b:4222\\,nats://c:4222",
			"--set", "nats.auth.enabled=false", "--set", "keda.enabled=true", "--set", "keda.natsMonitoringEndpoint=a:8222"},
			expectations{secretName: chartSecret, chartSecret: true, externalNATS: "nats://a:4222,nats://b:4222,nats://c:4222", streamReplicas: 3, keda: true}},
		{"one NATS node", []string{"--set", "nats.replicas=1", "--set", "nats.streamReplicas=1"},
			func() expectations { e := defaults; e.streamReplicas = 1; return e }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustRender(t, tc.args...)
			reportAll(t, checkAll(m, tc.want))
		})
	}
}

// TestChart_RefusesUnsafeValues: values that would break a deployment stop
// the rendering with a message naming the value.
func TestChart_RefusesUnsafeValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "executor.terminationGracePeriodSeconds=30"}, "executor.terminationGracePeriodSeconds (30) must be longer than shutdownGraceSeconds (30)"},
		{[]string{"--set", "shutdownGraceSeconds=60"}, "must be longer than shutdownGraceSeconds (60)"},
		{[]string{"--set", "nats.streamReplicas=5"}, "nats.streamReplicas (5) cannot exceed nats.replicas (3)"},
		{[]string{"--set", "executor.resources.memory=1.5Gi"}, "write it in whole Mi or Gi"},
		{[]string{"--set", "secrets.ghToken="}, "secrets.ghToken (or existingSecret) is required"},
		{[]string{"--set", "readModel.type=postgres", "--set", "secrets.databaseURL="}, "secrets.databaseURL (or existingSecret) is required"},
		{[]string{"--set", "keda.enabled=true", "--set", "nats.external.url=nats://a:4222"}, "keda.natsMonitoringEndpoint is required"},
		{[]string{"--set", "webhooks.urls={https://hooks.example.com/awo}"}, "webhooks.secret (or existingSecret) is required with webhooks.urls"},
	} {
		_, err := render(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("helm template %v: got %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

// TestChecks_CatchDrift breaks a rendered manifest in each way the checks
// guard against and expects a problem naming it; the unbroken rendering
// passes (TestChart_Renders), so the checks are not merely strict.
func TestChecks_CatchDrift(t *testing.T) {
	out, err := render(t, "--set", "keda.enabled=true", "--set", "serviceMonitor.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	want := defaults
	want.keda, want.serviceMonitor = true, true
	fresh := func() *manifests {
		m, err := decode(out)
		if err != nil {
			t.Fatal(err)
		}
		if bad := checkAll(m, want); len(bad) != 0 {
			t.Fatalf("the unchanged rendering fails: %v", bad)
		}
		return m
	}
	container := func(m *manifests, comp string) *corev1.Container {
		return &m.deployments["awo-"+comp].Spec.Template.Spec.Containers[0]
	}
	setEnv := func(c *corev1.Container, name, value string) {
		for i := range c.Env {
			if c.Env[i].Name == name {
				c.Env[i] = corev1.EnvVar{Name: name, Value: value}
				return
			}
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	}
	for _, tc := range []struct {
		name   string
		mutate func(m *manifests)
		want   string
	}{
		{"limit above request", func(m *manifests) {
			container(m, "executor").Resources.Limits[corev1.ResourceMemory] = quantity("3Gi")
		}, "memory request 2Gi differs from its limit 3Gi"},
		{"no GOMEMLIMIT", func(m *manifests) {
			c := container(m, "orchestrator")
			for i, e := range c.Env {
				if e.Name == "GOMEMLIMIT" {
					c.Env = append(c.Env[:i], c.Env[i+1:]...)
					break
				}
			}
		}, "awo-orchestrator: no GOMEMLIMIT"},
		{"GOMEMLIMIT over the limit", func(m *manifests) { setEnv(container(m, "gateway"), "GOMEMLIMIT", "1024MiB") },
			"GOMEMLIMIT=1024MiB must be a size under the memory limit"},
		{"readiness on /healthz", func(m *manifests) { container(m, "github").ReadinessProbe.HTTPGet.Path = "/healthz" },
			"readiness probe on /healthz"},
		{"liveness on the wrong port", func(m *manifests) { setEnv(container(m, "executor"), "AWO_METRICS_LISTEN", "0.0.0.0:9000") },
			"AWO_METRICS_LISTEN=\"0.0.0.0:9000\", want 0.0.0.0:9464"},
		{"root", func(m *manifests) {
			z := int64(0)
			m.deployments["awo-gateway"].Spec.Template.Spec.SecurityContext.RunAsUser = &z
		}, "awo-gateway: may run as root"},
		{"short grace", func(m *manifests) {
			g := int64(30)
			m.deployments["awo-executor"].Spec.Template.Spec.TerminationGracePeriodSeconds = &g
		}, "awo-executor: terminationGracePeriodSeconds must be longer"},
		{"unknown variable", func(m *manifests) { setEnv(container(m, "executor"), "AWO_EXECUTOR_CONCURENCY", "4") },
			"sets AWO_EXECUTOR_CONCURENCY, which the configuration does not read"},
		{"no PDB", func(m *manifests) { delete(m.pdbs, "awo-github") }, "awo-github: no PodDisruptionBudget"},
		{"unbounded sandboxes", func(m *manifests) {
			for i, v := range m.deployments["awo-executor"].Spec.Template.Spec.Volumes {
				if v.Name == "sandboxes" {
					m.deployments["awo-executor"].Spec.Template.Spec.Volumes[i].EmptyDir.SizeLimit = nil
				}
			}
		}, "sandboxes (AGENT_WORK_ORDER_TEMP_DIR=\"/var/lib/awo/sandboxes\") are not on an emptyDir with a sizeLimit"},
		{"NATS node missing", func(m *manifests) {
			c := container(m, "orchestrator")
			setEnv(c, "NATS_URL", "nats://awo-nats-0.awo-nats-headless.awo.svc.cluster.local:4222")
		}, "awo-orchestrator: NATS_URL="},
		{"wrong NATS user", func(m *manifests) { setEnv(container(m, "executor"), "NATS_USER", "admin") },
			"NATS_USER=\"admin\", want \"executor\""},
		{"secret key missing", func(m *manifests) { delete(m.secrets[chartSecret].Data, "GH_TOKEN") },
			"GH_TOKEN comes from key GH_TOKEN, which Secret awo-secrets lacks"},
		{"route missing", func(m *manifests) {
			cm := m.configMaps["awo-nats"]
			cm.Data["nats.conf"] = strings.Replace(cm.Data["nats.conf"], "nats-route://awo-nats-2", "# nats-route://awo-nats-2", 1)
		}, "NATS config: routes"},
		{"KEDA on the wrong consumer", func(m *manifests) {
			m.scaledObjects["awo-executor"].Spec.Triggers[0].Metadata["consumer"] = "github"
		}, "watches WORKORDERS_COMMANDS/github"},
		{"image name", func(m *manifests) { container(m, "github").Image = "ghcr.io/agentworkorders/github:1" },
			"want ghcr.io/agentworkorders/awo-github"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fresh()
			tc.mutate(m)
			bad := checkAll(m, want)
			for _, b := range bad {
				if strings.Contains(b, tc.want) {
					return
				}
			}
			t.Errorf("after %s, no problem says %q; got %q", tc.name, tc.want, bad)
		})
	}
}

// TestDecode_IsStrict: the decoder refuses a misspelt field, a duplicate
// key and a kind the chart has no business rendering.
func TestDecode_IsStrict(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 1}], selektor: {a: b}}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x, name: y}\n",
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: x}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: x}\n",
	} {
		if _, err := decode([]byte(doc)); err == nil {
			t.Errorf("decode accepted %q", doc)
		}
	}
	if _, err := decode([]byte("# a comment\n---\napiVersion: v1\nkind: Service\nmetadata: {name: x}\n")); err != nil {
		t.Errorf("decode refused a valid Service: %v", err)
	}
}

func reportAll(t *testing.T, bad []string) {
	t.Helper()
	for _, b := range bad {
		t.Error(b)
	}
}
