package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/freetext"
	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// minBodyLimit is the least a request body may hold. A work order is a URL
// and a paragraph; anything near this size is a mistake or an attack.
const minBodyLimit = 1 << 20

// bodyLimit bounds a request body so that a user_request at its cap always
// fits, however its client escapes it: JSON encoders may write one byte as
// six (\u003c), so the body may hold six times the cap plus the other
// fields, and never less than minBodyLimit.
func bodyLimit(maxRequestBytes int) int64 {
	return max(minBodyLimit, 6*int64(maxRequestBytes)+64<<10)
}

// createBody is the Python service's CreateAgentWorkOrderRequest. Pointers tell a
// missing field from an empty one.
type createBody struct {
	AgentWorkOrderID  *string         `json:"agent_work_order_id"`
	RepositoryURL     *string         `json:"repository_url"`
	SandboxType       *string         `json:"sandbox_type"`
	UserRequest       *string         `json:"user_request"`
	SelectedCommands  *[]string       `json:"selected_commands"`
	GitHubIssueNumber json.RawMessage `json:"github_issue_number"` // a string or a number
	// RepositoryID names a configured repository whose defaults apply
	// (Archon's UI sends it); see configuredDefaults.
	RepositoryID *string `json:"repository_id"`
	// MaxCostUSD caps what the work order's agent runs may cost in all.
	MaxCostUSD *float64 `json:"max_cost_usd"`
	// Agent is the coding agent that runs the steps: claude or codex;
	// absent or "": the repository's default_agent, else AWO_DEFAULT_AGENT.
	Agent *string `json:"agent"`
	// agentFrom is the configured repository whose default_agent filled
	// Agent (configuredDefaults), so a refusal names it, not the request.
	agentFrom string
}

// createRequest is a validated request: every value in it is legal.
type createRequest struct {
	// ID is the client's chosen id, empty when the server is to pick one.
	ID        workorder.ID
	Requested events.Requested
}

// parseCreate validates a create request the way the Python service does, naming
// every problem at once.
func parseCreate(b createBody, repos repourl.Policy, maxRequestBytes int) (createRequest, error) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var req createRequest

	if b.AgentWorkOrderID != nil && *b.AgentWorkOrderID != "" {
		id, err := workorder.ParseID(*b.AgentWorkOrderID)
		if err != nil {
			add("agent_work_order_id: %s", plain(err))
		}
		req.ID = id
	}

	switch repo := trimmed(b.RepositoryURL); {
	case repo == "":
		add("repository_url: field required")
	default:
		if err := freetext.Check("repository_url", repo, maxURLBytes); err != nil {
			add("%s", err)
		} else if _, err := repos.Check(repo); err != nil {
			add("repository_url: %s", plain(err))
		}
		req.Requested.RepositoryURL = repo
	}

	sandbox, err := workorder.ParseSandboxType(trimmed(b.SandboxType))
	if err != nil {
		add("%s", plain(err))
	}
	req.Requested.SandboxType = sandbox

	req.Requested.UserRequest = trimmed(b.UserRequest)
	switch {
	case req.Requested.UserRequest == "":
		add("user_request: field required (describe the work to be done)")
	case len(req.Requested.UserRequest) > maxRequestBytes:
		add("user_request: must be at most %d bytes, got %d (AWO_MAX_REQUEST_BYTES)", maxRequestBytes, len(req.Requested.UserRequest))
	default:
		// Controls are looked for in the value as sent: trimming would drop
		// leading or trailing ones, such as U+0085, without a word.
		if err := freetext.Check("user_request", *b.UserRequest, 0); err != nil {
			add("%s", err)
		}
	}

	req.Requested.SelectedCommands = slices.Clone(workorder.DefaultSteps)
	if b.SelectedCommands != nil {
		steps, msg := parseSteps(*b.SelectedCommands)
		if msg != "" {
			add("selected_commands: %s", msg)
		}
		req.Requested.SelectedCommands = steps
	}

	issue, err := parseIssueNumber(b.GitHubIssueNumber)
	if err != nil {
		add("github_issue_number: %s", err)
	}
	if issue == "" {
		issue = issueMentioned(req.Requested.UserRequest)
	}
	req.Requested.GitHubIssueNumber = issue

	maxCost, err := parseMaxCost(b.MaxCostUSD)
	if err != nil {
		add("%s", err)
	}
	req.Requested.MaxCostUSD = maxCost

	if len(problems) > 0 {
		return createRequest{}, unprocessable(strings.Join(problems, "; "))
	}
	return req, nil
}

func parseSteps(raw []string) ([]workorder.Step, string) {
	if len(raw) == 0 {
		return nil, "must name at least one command"
	}
	steps := make([]workorder.Step, 0, len(raw))
	for _, s := range raw {
		step, err := workorder.ParseStep(strings.TrimSpace(s))
		if err != nil {
			return nil, plain(err)
		}
		if slices.Contains(steps, step) {
			return nil, fmt.Sprintf("command %q is listed twice", step)
		}
		steps = append(steps, step)
	}
	return steps, ""
}

var issueDigits = regexp.MustCompile(`^[1-9][0-9]{0,9}$`)

// parseMaxCost checks an optional max_cost_usd: absent is 0 (the default
// cap applies), present must be a positive number of US dollars, at most
// config.MaxUSD.
func parseMaxCost(v *float64) (float64, error) {
	if v == nil {
		return 0, nil
	}
	if !(*v > 0) || math.IsInf(*v, 0) || *v > config.MaxUSD {
		return 0, fmt.Errorf("max_cost_usd: must be a number of US dollars greater than 0 and at most %d, got %v "+
			"(leave it out for the default, AWO_MAX_COST_USD)", config.MaxUSD, *v)
	}
	return *v, nil
}

// parseIssueNumber accepts "42", "#42" or 42; null, absent or "" mean none.
// Only digits pass: the number ends up as an argument to gh.
func parseIssueNumber(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errors.New("must be a string or a number")
		}
		s = strings.TrimPrefix(strings.TrimSpace(s), "#")
		if s == "" {
			return "", nil
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		s = string(raw)
	default:
		return "", errors.New("must be a string or a number")
	}
	if !issueDigits.MatchString(s) {
		return "", fmt.Errorf("must be a positive issue number, got %s", strconv.Quote(s))
	}
	return s, nil
}

// issueMention finds "issue #42", "issue 42" or "#42" in a request, as the
// Python service's orchestrator did, so the planner gets the issue's text.
var issueMention = regexp.MustCompile(`(?i)(?:\bissue\s*#?\s*|(?:^|\W)#)([1-9][0-9]{0,9})\b`)

func issueMentioned(userRequest string) string {
	if m := issueMention.FindStringSubmatch(userRequest); m != nil {
		return m[1]
	}
	return ""
}

// maxURLBytes bounds a repository URL, in a body or a filter: no real one
// comes near it.
const maxURLBytes = 2048

// decodeJSON reads a JSON object of at most limit bytes into dst, rejecting
// unknown fields, and words every failure for the client.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any, limit int64) error {
	return decodeBody(w, r, dst, false, limit)
}

// decodeOptionalJSON is decodeJSON for a body the client may leave out:
// an empty body leaves dst as it is.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, dst any, limit int64) error {
	return decodeBody(w, r, dst, true, limit)
}

func decodeBody(w http.ResponseWriter, r *http.Request, dst any, optional bool, limit int64) error {
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return &problem{status: http.StatusUnsupportedMediaType,
			detail: fmt.Sprintf("Content-Type %q is not supported; send application/json", ct)}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return tooLarge(limit)
		}
		return badRequest("could not read the request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return badRequest("request body is empty; send a JSON object")
	}
	// JSON is UTF-8 (RFC 8259); encoding/json would turn a bad byte into
	// U+FFFD without a word, so the client is told instead.
	if !utf8.Valid(body) {
		i := invalidUTF8At(body)
		return badRequest("request body is not valid UTF-8 (byte 0x%02x at byte %d); send UTF-8 JSON", body[i], i)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonProblem(err, dst)
	}
	if dec.More() {
		return badRequest("request body holds more than one JSON value")
	}
	return nil
}

func jsonProblem(err error, dst any) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return badRequest("malformed JSON at byte %d: %v", syntax.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: the body ends early")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return unprocessable("request body must be a JSON object")
		}
		return unprocessable(fmt.Sprintf("%s: must be %s, got a JSON %s", typ.Field, jsonKind(typ.Type), typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return unprocessable(fmt.Sprintf("unknown field %s; allowed fields: %s", field, strings.Join(jsonFields(dst), ", ")))
	}
	return badRequest("malformed JSON: %v", err)
}

// jsonKind names a Go type as the JSON value a client should send.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		return "an array"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Float64:
		return "a number"
	}
	return "an object"
}

// jsonFields lists the JSON names of dst's fields, for error messages.
func jsonFields(dst any) []string {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var names []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

func trimmed(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

// plain drops the "invalid value: " prefix of domain errors: the client
// already knows the value was rejected.
func plain(err error) string {
	return strings.TrimPrefix(err.Error(), workorder.ErrInvalid.Error()+": ")
}

// invalidUTF8At is the offset of the first byte of b that is not valid
// UTF-8; len(b) when there is none.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}
