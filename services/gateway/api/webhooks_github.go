package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/idempotency"
)

// POST /webhooks/github: GitHub's deliveries, authenticated by their
// signature (GitHub sends no bearer token), turned into work orders and
// follow-up rounds through the same paths as POST / and POST /{id}/prompt.

// GitHubWebhook configures POST /webhooks/github (config.Triggers).
type GitHubWebhook struct {
	// Secret (GITHUB_WEBHOOK_SECRET) verifies X-Hub-Signature-256; empty:
	// the route does not exist.
	Secret       string
	Label        string   // AWO_TRIGGER_LABEL
	Command      string   // AWO_TRIGGER_COMMAND
	Associations []string // AWO_TRIGGER_ASSOCIATIONS
}

// GitHub's webhook headers.
const (
	ghSignatureHeader = "X-Hub-Signature-256"
	ghEventHeader     = "X-GitHub-Event"
	ghDeliveryHeader  = "X-GitHub-Delivery"
)

// githubWebhookPath is the route.
const githubWebhookPath = "/webhooks/github"

// githubBodyLimit caps a delivery. GitHub caps payloads at 25 MB, but the
// ones awo acts on (an issue or a comment and its repository) are a few
// tens of KiB; a comment is at most 65536 characters.
const githubBodyLimit = 5 << 20

// deliveryKeyPrefix keeps deliveries apart from clients' Idempotency-Keys
// in the shared bucket.
const deliveryKeyPrefix = "github-delivery:"

// webhookAnswer is every 2xx answer: what happened, and the work order it
// concerns when there is one.
type webhookAnswer struct {
	Detail           string       `json:"detail"`
	AgentWorkOrderID workorder.ID `json:"agent_work_order_id,omitempty"`
}

func (s *server) rules() triggerRules {
	return triggerRules{label: s.GitHubWebhook.Label, command: s.GitHubWebhook.Command, associations: s.GitHubWebhook.Associations}
}

func (s *server) githubWebhook(w http.ResponseWriter, r *http.Request) error {
	body, err := readWebhookBody(w, r)
	if err != nil {
		return err
	}
	if !validSignature(s.GitHubWebhook.Secret, body, r.Header.Get(ghSignatureHeader)) {
		s.log.Warn("GitHub webhook refused: missing or bad signature", "remote", r.RemoteAddr,
			"delivery_id", r.Header.Get(ghDeliveryHeader), "signed", r.Header.Get(ghSignatureHeader) != "")
		return &problem{status: http.StatusUnauthorized, detail: ghSignatureHeader +
			" is missing or does not match the body signed with GITHUB_WEBHOOK_SECRET; set the same secret on the webhook"}
	}
	event, delivery, err := deliveryHeaders(r)
	if err != nil {
		return err
	}
	log := s.log.With("github_event", event, "delivery_id", delivery)
	if event == "ping" {
		log.Info("GitHub webhook ping")
		writeJSON(w, http.StatusOK, webhookAnswer{Detail: "pong"})
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return &problem{status: http.StatusUnsupportedMediaType,
			detail: fmt.Sprintf("Content-Type %q is not supported; set the webhook's content type to application/json", ct)}
	}
	payload, err := decodeGitHubPayload(body)
	if err != nil {
		return badRequest("%s", err.Error())
	}
	t := decideTrigger(event, payload, s.rules())
	if t.ignore == "" {
		t.ignore = s.repositoryRefused(t.origin.Repository)
	}
	if t.ignore != "" {
		return ignore(w, log, t.ignore)
	}
	t.origin.DeliveryID = delivery
	if t.create {
		return s.webhookCreate(r.Context(), w, log, deliveryKeyPrefix+delivery, t)
	}
	return s.webhookFollowUp(r.Context(), w, log, deliveryKeyPrefix+delivery, t)
}

// readWebhookBody reads the raw body, which the signature covers.
func readWebhookBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > githubBodyLimit {
		return nil, tooLarge(githubBodyLimit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, githubBodyLimit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, tooLarge(githubBodyLimit)
		}
		return nil, badRequest("could not read the request body: %v", err)
	}
	return body, nil
}

// validSignature checks header = "sha256=" + hex(HMAC-SHA256(secret,
// body)) in constant time.
func validSignature(secret string, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok || secret == "" {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

func deliveryHeaders(r *http.Request) (event, delivery string, err error) {
	event = strings.TrimSpace(r.Header.Get(ghEventHeader))
	delivery = strings.TrimSpace(r.Header.Get(ghDeliveryHeader))
	switch {
	case event == "":
		return "", "", badRequest("%s is missing; this route takes GitHub webhook deliveries", ghEventHeader)
	case delivery == "":
		return "", "", badRequest("%s is missing; this route takes GitHub webhook deliveries", ghDeliveryHeader)
	case idempotency.ValidateKey(deliveryKeyPrefix+delivery) != nil:
		return "", "", badRequest("%s must be printable ASCII of at most %d characters", ghDeliveryHeader,
			idempotency.MaxKeyLen-len(deliveryKeyPrefix))
	case strings.ContainsFunc(event, func(c rune) bool { return c != '_' && (c < 'a' || c > 'z') }):
		return "", "", badRequest("%s must be an event name such as issues or issue_comment", ghEventHeader)
	}
	return event, delivery, nil
}

// ignore acknowledges a delivery that asks nothing of awo: GitHub shows
// the reason, and a 2xx keeps it from reporting a failure.
func ignore(w http.ResponseWriter, log *slog.Logger, reason string) error {
	log.Info("GitHub webhook ignored", "reason", reason)
	writeJSON(w, http.StatusAccepted, webhookAnswer{Detail: "ignored: " + reason})
	return nil
}

func githubRepositoryURL(fullName string) string { return "https://github.com/" + fullName }

// repositoryRefused says why AWO_ALLOWED_REPOSITORIES (or the other
// repository rules) refuse the delivery's repository; "" when allowed.
func (s *server) repositoryRefused(fullName string) string {
	policy := repourl.Policy{AllowLocal: s.AllowLocalRepos, Allowed: s.AllowedRepositories}
	if _, err := policy.Check(githubRepositoryURL(fullName)); err != nil {
		return "repository " + fullName + ": " + plain(err)
	}
	return ""
}

// webhookCreate creates the work order through the create path: the same
// validation, admission and publish as POST /, with the delivery id as its
// idempotency key, so a redelivery answers with the work order the first
// made. Over the daily budget it is recorded all the same and waits
// (budgetWait). A refusal by admission (429) or an outage (503) is answered
// as is, with the key released, so GitHub shows the failure and a
// redelivery creates the work order.
func (s *server) webhookCreate(ctx context.Context, w http.ResponseWriter, log *slog.Logger, key string, t trigger) error {
	if s.Idempotency == nil {
		return &problem{status: http.StatusServiceUnavailable, detail: "GitHub deliveries cannot be de-duplicated by this gateway (no idempotency store)"}
	}
	repo, request := githubRepositoryURL(t.origin.Repository), t.userRequest
	issue := json.RawMessage(strconv.Itoa(t.issue))
	req, err := parseCreate(createBody{RepositoryURL: &repo, UserRequest: &request, GitHubIssueNumber: issue},
		repourl.Policy{AllowLocal: s.AllowLocalRepos, Allowed: s.AllowedRepositories}, s.MaxRequestBytes)
	if err != nil {
		var p *problem
		if errors.As(err, &p) && p.status == http.StatusUnprocessableEntity {
			return ignore(w, log, p.detail)
		}
		return err
	}
	// The agent, as for an API create: the configured repository's
	// default_agent, else AWO_DEFAULT_AGENT. Its other defaults (sandbox,
	// steps) stay the trigger's.
	configured := createBody{RepositoryURL: &repo}
	if err := s.configuredDefaults(ctx, &configured); err != nil {
		return err
	}
	if err := s.chooseAgent(createBody{Agent: configured.Agent, agentFrom: configured.agentFrom}, &req); err != nil {
		var p *problem
		if errors.As(err, &p) && p.status == http.StatusUnprocessableEntity {
			return ignore(w, log, p.detail) // as any request the create would refuse
		}
		return err
	}
	s.defaultCap(&req)
	ctx, budgetNote, err := s.budgetWait(ctx)
	if err != nil {
		return err
	}
	origin := t.origin
	req.Requested.Origin = &origin
	id, seq, replayed, err := s.publishIdempotent(ctx, key, req)
	var p *problem
	if errors.As(err, &p) && p.status == http.StatusUnprocessableEntity {
		// The key was used for another request: only a forged or altered
		// redelivery does that, and it creates nothing.
		return ignore(w, log, "delivery already handled with another payload")
	}
	if err != nil {
		return err
	}
	if replayed {
		log.Info("GitHub webhook already handled", "work_order_id", string(id))
		writeJSON(w, http.StatusAccepted, webhookAnswer{Detail: "already handled", AgentWorkOrderID: id})
		return nil
	}
	tagWorkOrder(ctx, id)
	log.Info("work order requested from GitHub", "work_order_id", string(id), "seq", seq, "kind", origin.Kind,
		"repository", origin.Repository, "number", origin.Number, "sender", origin.Sender)
	if budgetNote != "" {
		log.Warn("work order from GitHub recorded over the daily budget: its agent steps wait", "work_order_id", string(id))
	}
	writeJSON(w, http.StatusAccepted, webhookAnswer{Detail: "work order created" + budgetNote, AgentWorkOrderID: id})
	return nil
}

// webhookFollowUp runs a follow-up round through the prompt route's path,
// once per delivery: the delivery is claimed first, and released when the
// round could not start, so a redelivery tries again.
func (s *server) webhookFollowUp(ctx context.Context, w http.ResponseWriter, log *slog.Logger, key string, t trigger) error {
	if s.Idempotency == nil {
		return &problem{status: http.StatusServiceUnavailable, detail: "GitHub deliveries cannot be de-duplicated by this gateway (no idempotency store)"}
	}
	text, err := parsePrompt(promptBody{PromptText: &t.promptTxt}, s.MaxRequestBytes)
	if err != nil {
		return ignore(w, log, strings.TrimPrefix(errorDetail(err), "prompt_text: "))
	}
	ctx, budgetNote, err := s.budgetWait(ctx)
	if err != nil {
		return err
	}
	hash := idempotency.RequestHash(events.Requested{WorkOrderID: t.followUp, UserRequest: text})
	claim, err := s.Idempotency.Claim(ctx, key, idempotency.Record{WorkOrderID: t.followUp, RequestHash: hash})
	if err != nil {
		return fmt.Errorf("%w: %w", errIdempotency, err)
	}
	if !claim.Fresh {
		log.Info("GitHub webhook already handled", "work_order_id", string(claim.Record.WorkOrderID))
		writeJSON(w, http.StatusAccepted, webhookAnswer{Detail: "already handled", AgentWorkOrderID: claim.Record.WorkOrderID})
		return nil
	}
	release := func() {
		if rerr := s.Idempotency.Release(ctx, key, claim.Revision); rerr != nil {
			log.Warn("releasing a GitHub delivery after a follow-up that did not start", "err", rerr)
		}
	}
	origin := t.origin
	wo, round, err := s.webhookRound(ctx, t.followUp, text, &origin)
	if err != nil {
		release()
		var p *problem
		switch {
		case errors.Is(err, readmodel.ErrNotFound):
			return ignore(w, log, fmt.Sprintf("pull request #%d names work order %s, which does not exist", origin.Number, t.followUp))
		case errors.As(err, &p) && (p.status == http.StatusConflict || p.status == http.StatusUnprocessableEntity):
			return ignore(w, log, p.detail)
		}
		return err
	}
	log.Info("work order follow-up requested from GitHub", "work_order_id", string(wo.AgentWorkOrderID), "round", round,
		"repository", origin.Repository, "number", origin.Number, "sender", origin.Sender)
	writeJSON(w, http.StatusAccepted, webhookAnswer{Detail: fmt.Sprintf("follow-up round %d requested", round) + budgetNote, AgentWorkOrderID: wo.AgentWorkOrderID})
	return nil
}

// webhookRound starts the round when the marker's work order is one of the
// delivery's repository: a marker copied into another repository's pull
// request must not reach it.
func (s *server) webhookRound(ctx context.Context, id workorder.ID, text string, origin *events.Origin) (readmodel.WorkOrder, int, error) {
	wo, err := s.current(ctx, id)
	if err != nil {
		return wo, 0, err
	}
	want, err1 := repourl.Parse(githubRepositoryURL(origin.Repository), false)
	got, err2 := repourl.Parse(wo.RepositoryURL, s.AllowLocalRepos)
	if err1 != nil || err2 != nil || !strings.EqualFold(want.Host, got.Host) || !strings.EqualFold(want.Slug(), got.Slug()) {
		return wo, 0, &problem{status: http.StatusConflict, detail: fmt.Sprintf(
			"work order %s is not one of %s; its marker does not belong in this pull request", id, origin.Repository)}
	}
	return s.followUp(ctx, wo, followUpAsk{text: text}, origin)
}

func errorDetail(err error) string {
	_, detail := errorResponse(err)
	return detail
}
