package apiclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// Create records a work order. A non-empty idempotencyKey is sent as
// Idempotency-Key, so retrying with the same key makes one work order.
func (c *Client) Create(ctx context.Context, req CreateRequest, idempotencyKey string) (Created, json.RawMessage, error) {
	var h http.Header
	if idempotencyKey != "" {
		h = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	var out Created
	raw, err := c.do(ctx, call{method: http.MethodPost, path: "/api/agent-work-orders/", body: req, header: h}, &out)
	return out, raw, err
}

// ListOptions filter a list; zero values filter nothing (Limit 0: the
// server's default, every work order up to AWO_LIST_MAX).
type ListOptions struct {
	Status        string
	RepositoryURL string
	Limit         int
	Offset        int
}

// List returns work orders, newest first.
func (c *Client) List(ctx context.Context, o ListOptions) ([]WorkOrder, json.RawMessage, error) {
	q := url.Values{}
	set(q, "status", o.Status)
	set(q, "repository_url", o.RepositoryURL)
	setInt(q, "limit", o.Limit)
	setInt(q, "offset", o.Offset)
	var out []WorkOrder
	raw, err := c.do(ctx, call{method: http.MethodGet, path: "/api/agent-work-orders/", query: q}, &out)
	return out, raw, err
}

// Get returns one work order.
func (c *Client) Get(ctx context.Context, id string) (WorkOrder, json.RawMessage, error) {
	var out WorkOrder
	raw, err := c.do(ctx, call{method: http.MethodGet, path: workOrderPath(id, "")}, &out)
	return out, raw, err
}

// Steps returns every attempt of every step of a work order.
func (c *Client) Steps(ctx context.Context, id string) (Steps, json.RawMessage, error) {
	var out Steps
	raw, err := c.do(ctx, call{method: http.MethodGet, path: workOrderPath(id, "/steps")}, &out)
	return out, raw, err
}

// LogOptions filter a work order's log.
type LogOptions struct {
	Level  string
	Step   string
	Limit  int
	Offset int
}

// Logs returns one page of a work order's log.
func (c *Client) Logs(ctx context.Context, id string, o LogOptions) (Logs, json.RawMessage, error) {
	q := url.Values{}
	set(q, "level", o.Level)
	set(q, "step", o.Step)
	setInt(q, "limit", o.Limit)
	setInt(q, "offset", o.Offset)
	var out Logs
	raw, err := c.do(ctx, call{method: http.MethodGet, path: workOrderPath(id, "/logs"), query: q}, &out)
	return out, raw, err
}

// reasonBody is the optional {"reason": ...} of cancel and retry: nil
// (no body at all) when there is no reason, so the server's default applies.
func reasonBody(reason string) any {
	if reason == "" {
		return nil
	}
	return map[string]string{"reason": reason}
}

// Cancel asks for a pending or running work order to stop.
func (c *Client) Cancel(ctx context.Context, id, reason string) (WorkOrder, json.RawMessage, error) {
	return c.action(ctx, id, "/cancel", reasonBody(reason))
}

// Retry runs a failed or cancelled work order again from the step that
// failed.
func (c *Client) Retry(ctx context.Context, id, reason string) (WorkOrder, json.RawMessage, error) {
	return c.action(ctx, id, "/retry", reasonBody(reason))
}

// Prompt starts a follow-up round with text.
func (c *Client) Prompt(ctx context.Context, id, text string) (WorkOrder, json.RawMessage, error) {
	return c.action(ctx, id, "/prompt", map[string]string{"prompt_text": text})
}

func (c *Client) action(ctx context.Context, id, suffix string, body any) (WorkOrder, json.RawMessage, error) {
	var out WorkOrder
	raw, err := c.do(ctx, call{method: http.MethodPost, path: workOrderPath(id, suffix), body: body}, &out)
	return out, raw, err
}

const reposPath = "/api/agent-work-orders/repositories"

// Repositories returns the configured repositories, oldest first.
func (c *Client) Repositories(ctx context.Context) ([]Repository, json.RawMessage, error) {
	var out []Repository
	raw, err := c.do(ctx, call{method: http.MethodGet, path: reposPath}, &out)
	return out, raw, err
}

// AddRepository configures a repository, checking access first when
// verify is true.
func (c *Client) AddRepository(ctx context.Context, repositoryURL string, verify bool) (Repository, json.RawMessage, error) {
	var out Repository
	body := map[string]any{"repository_url": repositoryURL, "verify": verify}
	raw, err := c.do(ctx, call{method: http.MethodPost, path: reposPath, body: body}, &out)
	return out, raw, err
}

// RepositoryDefaults are what a PATCH changes; nil leaves a field as is.
type RepositoryDefaults struct {
	DefaultSandboxType *string  `json:"default_sandbox_type,omitempty"`
	DefaultCommands    []string `json:"default_commands,omitempty"`
}

// UpdateRepository changes a configured repository's defaults.
func (c *Client) UpdateRepository(ctx context.Context, id string, d RepositoryDefaults) (Repository, json.RawMessage, error) {
	var out Repository
	raw, err := c.do(ctx, call{method: http.MethodPatch, path: reposPath + "/" + url.PathEscape(id), body: d}, &out)
	return out, raw, err
}

// Verified is the answer of a repository's verify.
type Verified struct {
	IsAccessible bool   `json:"is_accessible"`
	RepositoryID string `json:"repository_id"`
}

// VerifyRepository checks access to a configured repository again.
func (c *Client) VerifyRepository(ctx context.Context, id string) (Verified, json.RawMessage, error) {
	var out Verified
	raw, err := c.do(ctx, call{method: http.MethodPost, path: reposPath + "/" + url.PathEscape(id) + "/verify"}, &out)
	return out, raw, err
}

// DeleteRepository removes a configured repository.
func (c *Client) DeleteRepository(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{method: http.MethodDelete, path: reposPath + "/" + url.PathEscape(id)}, nil)
	return err
}

// Health returns GET /health (200 also when degraded: read Status).
func (c *Client) Health(ctx context.Context) (Health, json.RawMessage, error) {
	var out Health
	raw, err := c.do(ctx, call{method: http.MethodGet, path: "/health"}, &out)
	return out, raw, err
}

func set(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setInt(q url.Values, k string, v int) {
	if v != 0 {
		q.Set(k, strconv.Itoa(v))
	}
}
