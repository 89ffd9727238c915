// Package discovery makes every running service visible to operators as a
// NATS micro service: `nats micro ls` and `nats micro info awo-executor`
// list the replicas, and List answers the same question in code for the
// gateway's /health.
package discovery

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Config describes one service instance.
type Config struct {
	Name        string // e.g. "awo-executor": letters, digits, - and _
	Version     string // the build's version; see Register for non-semver values
	Description string
	// Health, when set, adds details to the health endpoint's answer; it is
	// called for every request, so keep it cheap.
	Health func(ctx context.Context) map[string]any
}

// HealthSubject is where an instance of the named service answers health
// requests (one replica answers each request).
func HealthSubject(name string) string { return "awo.health." + name }

// Instance is one running replica, as it answers $SRV.PING.
type Instance struct {
	Name    string `json:"name"`
	ID      string `json:"id"`
	Version string `json:"version"`
}

// semver is the pattern micro insists on for versions.
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// microVersion turns a build version into the semantic version micro
// requires: a leading "v" (git tags) is dropped, and anything else that is
// not semver becomes 0.0.0; Register keeps the original in the metadata.
func microVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	if semver.MatchString(v) {
		return v
	}
	return "0.0.0"
}

// Register adds the service to nc's micro registry, with a health endpoint
// answering JSON at HealthSubject(c.Name). Stop the returned service on
// shutdown so the replica disappears from `nats micro ls` at once.
func Register(nc *nats.Conn, c Config) (micro.Service, error) {
	if nc == nil {
		return nil, errors.New("registering a micro service: no NATS connection")
	}
	started := time.Now()
	svc, err := micro.AddService(nc, micro.Config{
		Name:        c.Name,
		Version:     microVersion(c.Version),
		Description: c.Description,
		Metadata:    map[string]string{"build_version": c.Version},
	})
	if err != nil {
		return nil, fmt.Errorf("registering %s as a NATS micro service: %w", c.Name, err)
	}
	id := svc.Info().ID
	health := func(req micro.Request) {
		body := map[string]any{}
		if c.Health != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			for k, v := range c.Health(ctx) {
				body[k] = v
			}
			cancel()
		}
		// The identity fields win over whatever Health returned.
		body["status"] = "ok"
		body["name"], body["id"], body["version"] = c.Name, id, c.Version
		body["uptime_seconds"] = time.Since(started).Seconds()
		_ = req.RespondJSON(body)
	}
	if err := svc.AddEndpoint("health", micro.HandlerFunc(health), micro.WithEndpointSubject(HealthSubject(c.Name))); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("adding the health endpoint of %s: %w", c.Name, err)
	}
	// One round trip so the server has the service's subscriptions when
	// Register returns: a ping right after it then finds the service.
	if err := nc.Flush(); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("registering %s as a NATS micro service: %w", c.Name, err)
	}
	return svc, nil
}

// List asks every micro service on the connection's account to identify
// itself ($SRV.PING) and returns the answers that arrive within wait,
// sorted by name then id. Only services whose name starts with prefix are
// kept ("" keeps all).
func List(ctx context.Context, nc *nats.Conn, prefix string, wait time.Duration) ([]Instance, error) {
	if nc == nil {
		return nil, errors.New("listing micro services: no NATS connection")
	}
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("listing micro services: subscribing to replies: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	subject, _ := micro.ControlSubject(micro.PingVerb, "", "")
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return nil, fmt.Errorf("listing micro services: publishing %s: %w", subject, err)
	}
	// The number of replicas is unknown, so the whole window is waited out.
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var out []Instance
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			break // the window closed
		}
		var p micro.Ping
		if json.Unmarshal(msg.Data, &p) != nil || p.ID == "" {
			continue // not a micro answer: ignore it rather than fail the list
		}
		if !strings.HasPrefix(p.Name, prefix) {
			continue
		}
		out = append(out, Instance{Name: p.Name, ID: p.ID, Version: versionOf(p.ServiceIdentity)})
	}
	sortInstances(out)
	return out, nil
}

func versionOf(s micro.ServiceIdentity) string {
	if v := s.Metadata["build_version"]; v != "" {
		return v
	}
	return s.Version
}

func sortInstances(in []Instance) {
	slices.SortFunc(in, func(a, b Instance) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
}
