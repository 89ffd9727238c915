//go:build deploycheck

package helm

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/agentworkorders/awo/deploy/internal/awoenv"
	"github.com/agentworkorders/awo/pkg/bus"
)

// The checks return what they find wrong, one line each; mutation tests
// break rendered manifests and expect a line naming the break.

// components are the awo services the chart runs, with the port of their
// health endpoints (and /metrics).
var components = map[string]int32{"gateway": 8053, "orchestrator": 9464, "executor": 9464, "github": 9464}

// expectations are what a rendering was asked for.
type expectations struct {
	secretName     string // the Secret env vars refer to
	chartSecret    bool   // the chart renders that Secret
	natsAuth       bool
	externalNATS   string // NATS_URL when the cluster is external
	streamReplicas int
	keda           bool
	serviceMonitor bool
}

func checkAll(m *manifests, want expectations) []string {
	var bad []string
	seen := map[string]bool{}
	for name, d := range m.deployments {
		comp := d.Spec.Template.Labels["app.kubernetes.io/component"]
		if _, ok := components[comp]; !ok {
			bad = append(bad, fmt.Sprintf("Deployment %s: component label %q is not an awo service", name, comp))
			continue
		}
		seen[comp] = true
		bad = append(bad, checkDeployment(m, d, comp, want)...)
	}
	for comp := range components {
		if !seen[comp] {
			bad = append(bad, "no Deployment for "+comp)
		}
	}
	bad = append(bad, checkNATS(m, want)...)
	bad = append(bad, checkSecret(m, want)...)
	bad = append(bad, checkAutoscaling(m, want)...)
	slices.Sort(bad)
	return bad
}

func checkDeployment(m *manifests, d *appsv1.Deployment, comp string, want expectations) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, "Deployment "+d.Name+": "+fmt.Sprintf(format, a...)) }
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		add("%d containers, want 1", len(pod.Containers))
		return bad
	}
	c := pod.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			add("sets %s twice", e.Name)
		}
		env[e.Name] = e
		if !awoenv.Known(e.Name) {
			add("sets %s, which the configuration does not read (pkg/config)", e.Name)
		}
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
			bad = append(bad, checkSecretRef(m, d.Name, e.Name, ref.SecretKeyRef, want)...)
		}
	}

	if repo, _, _ := strings.Cut(c.Image, ":"); repo != "ghcr.io/agentworkorders/awo-"+comp {
		add("image %s, want ghcr.io/agentworkorders/awo-%s:<version>", c.Image, comp)
	}
	bad = append(bad, checkResources(d.Name, c, env)...)
	bad = append(bad, checkProbes(d.Name, c, comp, env)...)
	bad = append(bad, checkSecurity(d.Name, pod, c)...)

	grace := awoenv.ShutdownGrace(env["AWO_SHUTDOWN_GRACE"].Value)
	if pod.TerminationGracePeriodSeconds == nil || int64(grace.Seconds()) >= *pod.TerminationGracePeriodSeconds {
		add("terminationGracePeriodSeconds must be longer than AWO_SHUTDOWN_GRACE (%s)", grace)
	}
	if want.keda && comp == "executor" {
		if d.Spec.Replicas != nil {
			add("sets replicas while KEDA scales it: every upgrade would reset the count")
		}
	} else if d.Spec.Replicas == nil || *d.Spec.Replicas < 1 {
		add("no replicas")
	}
	if comp == "executor" {
		bad = append(bad, checkSandboxes(d.Name, pod, c, env)...)
	}
	bad = append(bad, checkNATSEnv(m, d.Name, comp, env, want)...)
	if !hasPDB(m, d.Spec.Template.Labels) {
		add("no PodDisruptionBudget selects its pods")
	}
	return bad
}

// checkResources: requests equal limits for cpu and memory (Guaranteed
// QoS), and GOMEMLIMIT under the memory limit.
func checkResources(name string, c corev1.Container, env map[string]corev1.EnvVar) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, "Deployment "+name+": "+fmt.Sprintf(format, a...)) }
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := lim[r]; !ok {
			add("no %s limit", r)
		}
	}
	for r := range mergeKeys(req, lim) {
		q1, ok1 := req[r]
		q2, ok2 := lim[r]
		if !ok1 || !ok2 || q1.Cmp(q2) != 0 {
			add("%s request %s differs from its limit %s", r, q1.String(), q2.String())
		}
	}
	memLimit, ok := lim[corev1.ResourceMemory]
	if !ok {
		return bad
	}
	gml, ok := env["GOMEMLIMIT"]
	if !ok || gml.Value == "" {
		add("no GOMEMLIMIT: the Go heap would not know the memory limit")
		return bad
	}
	n, err := goMemLimitBytes(gml.Value)
	if err != nil || n <= 0 || n >= memLimit.Value() {
		add("GOMEMLIMIT=%s must be a size under the memory limit %s", gml.Value, memLimit.String())
	}
	return bad
}

// goMemLimitBytes parses a GOMEMLIMIT value: bytes with an optional B,
// KiB, MiB, GiB or TiB suffix, as the Go runtime reads it.
func goMemLimitBytes(v string) (int64, error) {
	for i, unit := range []string{"TiB", "GiB", "MiB", "KiB", "B"} {
		if num, ok := strings.CutSuffix(v, unit); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			return n << (10 * (4 - i)), err
		}
	}
	return strconv.ParseInt(v, 10, 64)
}

func mergeKeys(a, b corev1.ResourceList) map[corev1.ResourceName]bool {
	out := map[corev1.ResourceName]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// checkProbes: liveness on /healthz and readiness on /readyz, on the port
// the service serves them (the gateway's API port, the workers'
// AWO_METRICS_LISTEN).
func checkProbes(name string, c corev1.Container, comp string, env map[string]corev1.EnvVar) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, "Deployment "+name+": "+fmt.Sprintf(format, a...)) }
	port := components[comp]
	if comp == "gateway" {
		if env["AGENT_WORK_ORDERS_PORT"].Value != strconv.Itoa(int(port)) {
			add("AGENT_WORK_ORDERS_PORT=%q, want %d", env["AGENT_WORK_ORDERS_PORT"].Value, port)
		}
	} else if _, p, _ := net.SplitHostPort(env["AWO_METRICS_LISTEN"].Value); p != strconv.Itoa(int(port)) {
		add("AWO_METRICS_LISTEN=%q, want 0.0.0.0:%d", env["AWO_METRICS_LISTEN"].Value, port)
	}
	declared := false
	for _, p := range c.Ports {
		declared = declared || p.ContainerPort == port
	}
	if !declared {
		add("does not declare its port %d", port)
	}
	for _, pr := range []struct {
		kind  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			add("no HTTP %s probe", pr.kind)
			continue
		}
		g := pr.probe.HTTPGet
		if g.Path != pr.path || g.Port.IntValue() != int(port) {
			add("%s probe on %s port %s, want %s on %d", pr.kind, g.Path, g.Port.String(), pr.path, port)
		}
	}
	return bad
}

// checkSecurity: not root, no privilege escalation, no capabilities, no
// service account token.
func checkSecurity(name string, pod corev1.PodSpec, c corev1.Container) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, "Deployment "+name+": "+fmt.Sprintf(format, a...)) }
	nonRoot, uid := false, int64(-1)
	if sc := pod.SecurityContext; sc != nil {
		nonRoot = sc.RunAsNonRoot != nil && *sc.RunAsNonRoot
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
	}
	if !nonRoot || uid == 0 {
		add("may run as root (runAsNonRoot %v, runAsUser %d)", nonRoot, uid)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		add("allows privilege escalation")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		add("keeps Linux capabilities (drop ALL)")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		add("mounts a service account token it never uses")
	}
	return bad
}

// checkSandboxes: the executor's AGENT_WORK_ORDER_TEMP_DIR is a bounded
// emptyDir of its own.
func checkSandboxes(name string, pod corev1.PodSpec, c corev1.Container, env map[string]corev1.EnvVar) []string {
	dir := env["AGENT_WORK_ORDER_TEMP_DIR"].Value
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != dir {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil && !v.EmptyDir.SizeLimit.IsZero() {
				return nil
			}
		}
	}
	return []string{fmt.Sprintf("Deployment %s: sandboxes (AGENT_WORK_ORDER_TEMP_DIR=%q) are not on an emptyDir with a sizeLimit", name, dir)}
}

// checkNATSEnv: NATS_URL names every node of the built-in cluster (or the
// external URL), stream replicas fit the cluster, and the service connects
// as its own least-privilege user.
func checkNATSEnv(m *manifests, name, comp string, env map[string]corev1.EnvVar, want expectations) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, "Deployment "+name+": "+fmt.Sprintf(format, a...)) }
	natsURL := env["NATS_URL"].Value
	nodes := 0
	if want.externalNATS != "" {
		if natsURL != want.externalNATS {
			add("NATS_URL=%q, want the external %q", natsURL, want.externalNATS)
		}
		nodes = len(strings.Split(want.externalNATS, ","))
	} else {
		sts := natsStatefulSet(m)
		if sts == nil {
			return append(bad, "no NATS StatefulSet and no external NATS")
		}
		nodes = int(*sts.Spec.Replicas)
		var wantURLs []string
		for i := range nodes {
			wantURLs = append(wantURLs, fmt.Sprintf("nats://%s-%d.%s.%s.svc.cluster.local:4222", sts.Name, i, sts.Spec.ServiceName, namespace))
		}
		if natsURL != strings.Join(wantURLs, ",") {
			add("NATS_URL=%q, want every node of %s: %q", natsURL, sts.Name, strings.Join(wantURLs, ","))
		}
	}
	r, err := strconv.Atoi(env["AWO_STREAM_REPLICAS"].Value)
	if err != nil || r != want.streamReplicas || (want.externalNATS == "" && r > nodes) {
		add("AWO_STREAM_REPLICAS=%q, want %d (at most the %d NATS nodes)", env["AWO_STREAM_REPLICAS"].Value, want.streamReplicas, nodes)
	}
	user, hasUser := env["NATS_USER"]
	switch {
	case want.natsAuth && user.Value != comp:
		add("NATS_USER=%q, want %q (deploy/nats/awo.conf)", user.Value, comp)
	case want.natsAuth:
		pw := env["NATS_PASSWORD"].ValueFrom
		if pw == nil || pw.SecretKeyRef == nil || pw.SecretKeyRef.Key != "AWO_NATS_"+strings.ToUpper(comp)+"_PASSWORD" {
			add("NATS_PASSWORD is not the secret AWO_NATS_%s_PASSWORD the NATS nodes check", strings.ToUpper(comp))
		}
	case hasUser:
		add("NATS_USER set without NATS authentication")
	}
	_, hasDB := env["DATABASE_URL"]
	if hasDB && comp != "gateway" {
		add("DATABASE_URL is set, but only the gateway reads the read model")
	}
	return bad
}

func natsStatefulSet(m *manifests) *appsv1.StatefulSet {
	for _, s := range m.statefulSets {
		if s.Spec.Template.Labels["app.kubernetes.io/name"] == "nats" {
			return s
		}
	}
	return nil
}

func hasPDB(m *manifests, podLabels map[string]string) bool {
	for _, p := range m.pdbs {
		if p.Spec.Selector == nil || len(p.Spec.Selector.MatchLabels) == 0 {
			continue
		}
		if labels.SelectorFromSet(p.Spec.Selector.MatchLabels).Matches(labels.Set(podLabels)) {
			return true
		}
	}
	return false
}

// checkSecretRef: a secret variable points at the Secret of the release (or
// the existing one) and, when the chart renders it, at a key it has.
func checkSecretRef(m *manifests, owner, name string, ref *corev1.SecretKeySelector, want expectations) []string {
	if ref.Name != want.secretName {
		return []string{fmt.Sprintf("%s: %s comes from Secret %s, want %s", owner, name, ref.Name, want.secretName)}
	}
	if !want.chartSecret {
		return nil
	}
	s, ok := m.secrets[ref.Name]
	if !ok {
		return []string{fmt.Sprintf("%s: %s comes from Secret %s, which is not rendered", owner, name, ref.Name)}
	}
	if _, ok := s.Data[ref.Key]; !ok {
		return []string{fmt.Sprintf("%s: %s comes from key %s, which Secret %s lacks", owner, name, ref.Key, ref.Name)}
	}
	return nil
}

func checkSecret(m *manifests, want expectations) []string {
	_, ok := m.secrets[want.secretName]
	switch {
	case want.chartSecret && !ok:
		return []string{"Secret " + want.secretName + " is not rendered"}
	case !want.chartSecret && len(m.secrets) > 0:
		return []string{"a Secret is rendered although existingSecret is set"}
	}
	return nil
}

// checkNATS: the built-in cluster (when used) is a StatefulSet with a
// volume per node, a headless Service for the routes, a PDB, and a
// configuration nats-server accepts whose routes name every pod.
func checkNATS(m *manifests, want expectations) []string {
	sts := natsStatefulSet(m)
	if want.externalNATS != "" {
		if sts != nil {
			return []string{"the built-in NATS is rendered although nats.external.url is set"}
		}
		return nil
	}
	if sts == nil {
		return []string{"no NATS StatefulSet"}
	}
	var bad []string
	add := func(format string, a ...any) {
		bad = append(bad, "StatefulSet "+sts.Name+": "+fmt.Sprintf(format, a...))
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		add("want one volume claim per node for JetStream")
	}
	if hs, ok := m.services[sts.Spec.ServiceName]; !ok || hs.Spec.ClusterIP != corev1.ClusterIPNone {
		add("serviceName %s is not a headless Service", sts.Spec.ServiceName)
	}
	if !hasPDB(m, sts.Spec.Template.Labels) {
		add("no PodDisruptionBudget")
	}
	var cm *corev1.ConfigMap
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			cm = m.configMaps[v.ConfigMap.Name]
		}
	}
	if cm == nil {
		return append(bad, "StatefulSet "+sts.Name+": no ConfigMap volume with its configuration")
	}
	bad = append(bad, checkNATSConfig(sts, cm, want)...)
	return bad
}

// checkNATSConfig writes the ConfigMap out as the pods see it and parses it
// with nats-server, as pod 0 with the Secret's passwords.
func checkNATSConfig(sts *appsv1.StatefulSet, cm *corev1.ConfigMap, want expectations) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, "NATS config: "+fmt.Sprintf(format, a...)) }
	dir, err := os.MkdirTemp("", "awo-nats-conf")
	if err != nil {
		return []string{err.Error()}
	}
	defer os.RemoveAll(dir)
	for k, v := range cm.Data {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o644); err != nil {
			return []string{err.Error()}
		}
	}
	env := map[string]string{"POD_NAME": sts.Name + "-0"}
	for _, u := range []string{"ADMIN", "GATEWAY", "ORCHESTRATOR", "EXECUTOR", "GITHUB"} {
		env["AWO_NATS_"+u+"_PASSWORD"] = "pw-" + u
	}
	var opts *server.Options
	withEnv(env, func() { opts, err = server.ProcessConfigFile(filepath.Join(dir, "nats.conf")) })
	if err != nil {
		return append(bad, fmt.Sprintf("NATS config: nats-server refuses it: %v", err))
	}
	if opts.ServerName != env["POD_NAME"] {
		add("server_name %q, want the pod's name", opts.ServerName)
	}
	if !opts.JetStream {
		add("JetStream is off")
	}
	var routes []string
	for _, r := range opts.Routes {
		routes = append(routes, r.Host)
	}
	var wantRoutes []string
	for i := range int(*sts.Spec.Replicas) {
		wantRoutes = append(wantRoutes, fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local:%d", sts.Name, i, sts.Spec.ServiceName, namespace, opts.Cluster.Port))
	}
	if *sts.Spec.Replicas > 1 && !slices.Equal(routes, wantRoutes) {
		add("routes %v, want every pod %v", routes, wantRoutes)
	}
	if opts.MaxPayload < 8<<20 {
		add("max_payload %d: awo sends up to 8 MiB", opts.MaxPayload)
	}
	users := map[string]string{}
	for _, u := range opts.Users {
		users[u.Username] = u.Password
	}
	if want.natsAuth {
		for _, u := range []string{"admin", "gateway", "orchestrator", "executor", "github"} {
			if users[u] == "" || users[u] != env["AWO_NATS_"+strings.ToUpper(u)+"_PASSWORD"] {
				add("no user %s with the password AWO_NATS_%s_PASSWORD", u, strings.ToUpper(u))
			}
		}
	} else if len(users) > 0 {
		add("users without nats.auth.enabled")
	}
	return bad
}

// withEnv runs f with env set in the process environment (nats-server
// resolves $VARIABLES there) and restores it.
func withEnv(env map[string]string, f func()) {
	for k, v := range env {
		old, had := os.LookupEnv(k)
		os.Setenv(k, v)
		defer func() {
			if had {
				os.Setenv(k, old)
			} else {
				os.Unsetenv(k)
			}
		}()
	}
	f()
}

// checkAutoscaling: KEDA scales the executor Deployment on the executor
// consumer of the commands stream; the ServiceMonitor reaches every
// service's /metrics.
func checkAutoscaling(m *manifests, want expectations) []string {
	var bad []string
	if !want.keda && len(m.scaledObjects) > 0 {
		bad = append(bad, "a ScaledObject is rendered without keda.enabled")
	}
	if want.keda {
		if len(m.scaledObjects) != 1 {
			return append(bad, fmt.Sprintf("%d ScaledObjects, want 1", len(m.scaledObjects)))
		}
		for _, so := range m.scaledObjects {
			d, ok := m.deployments[so.Spec.ScaleTargetRef.Name]
			if !ok || d.Spec.Template.Labels["app.kubernetes.io/component"] != "executor" {
				bad = append(bad, "ScaledObject "+so.Name+" does not target the executor Deployment")
			}
			if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "nats-jetstream" {
				bad = append(bad, "ScaledObject "+so.Name+": want one nats-jetstream trigger")
				continue
			}
			md := so.Spec.Triggers[0].Metadata
			if md["stream"] != bus.StreamCommands || md["consumer"] != "executor" {
				bad = append(bad, fmt.Sprintf("ScaledObject %s watches %s/%s, want %s/executor", so.Name, md["stream"], md["consumer"], bus.StreamCommands))
			}
			if _, err := strconv.Atoi(md["lagThreshold"]); err != nil {
				bad = append(bad, "ScaledObject "+so.Name+": lagThreshold is not a number")
			}
			if u, err := url.Parse("http://" + md["natsServerMonitoringEndpoint"]); err != nil || u.Port() != "8222" {
				bad = append(bad, "ScaledObject "+so.Name+": natsServerMonitoringEndpoint is not host:8222")
			}
		}
	}
	if want.serviceMonitor {
		bad = append(bad, checkServiceMonitor(m)...)
	} else if len(m.serviceMonitors) > 0 {
		bad = append(bad, "a ServiceMonitor is rendered without serviceMonitor.enabled")
	}
	return bad
}

// checkServiceMonitor: every awo Deployment has a Service the
// ServiceMonitor selects, with a port it scrapes /metrics on.
func checkServiceMonitor(m *manifests) []string {
	if len(m.serviceMonitors) != 1 {
		return []string{fmt.Sprintf("%d ServiceMonitors, want 1", len(m.serviceMonitors))}
	}
	var bad []string
	for _, sm := range m.serviceMonitors {
		ports := map[string]bool{}
		for _, ep := range sm.Spec.Endpoints {
			if ep.Path == "/metrics" {
				ports[ep.Port] = true
			}
		}
		sel := labels.SelectorFromSet(sm.Spec.Selector.MatchLabels)
		for _, d := range m.deployments {
			found := false
			for _, s := range m.services {
				if !sel.Matches(labels.Set(s.Labels)) || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
					continue
				}
				for _, p := range s.Spec.Ports {
					found = found || ports[p.Name]
				}
			}
			if !found {
				bad = append(bad, "ServiceMonitor "+sm.Name+" does not scrape Deployment "+d.Name)
			}
		}
	}
	return bad
}

// quantity is resource.MustParse, named for the mutation table.
var quantity = resource.MustParse
