package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/freetext"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/idempotency"
)

// createdResponse is the Python service's AgentWorkOrderResponse.
type createdResponse struct {
	AgentWorkOrderID workorder.ID     `json:"agent_work_order_id"`
	Status           workorder.Status `json:"status"`
	Message          string           `json:"message"`
}

// stepHistory is the Python service's StepHistory.
type stepHistory struct {
	AgentWorkOrderID workorder.ID           `json:"agent_work_order_id"`
	Steps            []readmodel.StepRecord `json:"steps"`
}

// newIDAttempts bounds retries when a generated id is already taken: with
// 32 random bits a collision is rare, two in a row is a broken generator.
const newIDAttempts = 3

func (s *server) create(w http.ResponseWriter, r *http.Request) error {
	// First, so a client over the rate costs no parsing and publishes
	// nothing.
	if err := s.limitCreate(r); err != nil {
		return err
	}
	key, err := s.idempotencyKey(r)
	if err != nil {
		return err
	}
	var body createBody
	if err := decodeJSON(w, r, &body, s.bodyLimit); err != nil {
		return err
	}
	if err := s.configuredDefaults(r.Context(), &body); err != nil {
		return err
	}
	req, err := parseCreate(body, repourl.Policy{AllowLocal: s.AllowLocalRepos, Allowed: s.AllowedRepositories}, s.MaxRequestBytes)
	if err != nil {
		return err
	}
	if err := s.chooseAgent(body, &req); err != nil {
		return err
	}
	s.defaultCap(&req)

	var (
		id       workorder.ID
		seq      uint64
		replayed bool
	)
	if key != "" {
		id, seq, replayed, err = s.publishIdempotent(r.Context(), key, req)
	} else {
		id, seq, err = s.admitAndPublish(r.Context(), req)
	}
	if err != nil {
		return err
	}
	if replayed {
		w.Header().Set(idempotency.ReplayedHeader, "true")
	}
	s.log.Info("work order requested", "work_order_id", string(id), "seq", seq,
		"repository_url", req.Requested.RepositoryURL, "sandbox_type", req.Requested.SandboxType,
		"selected_commands", req.Requested.SelectedCommands, "github_issue_number", req.Requested.GitHubIssueNumber)
	writeJSON(w, http.StatusCreated, createdResponse{
		AgentWorkOrderID: id,
		Status:           workorder.StatusPending,
		Message:          "Agent work order created and queued for execution",
	})
	return nil
}

// admitAndPublish is publishRequested once admission control lets the
// work order in.
func (s *server) admitAndPublish(ctx context.Context, req createRequest) (workorder.ID, uint64, error) {
	release, err := s.admit(ctx, req.Requested.RepositoryURL)
	if err != nil {
		return "", 0, err
	}
	defer release()
	return s.publishRequested(ctx, req)
}

// publishRequested appends workorder.requested guarded by "no event yet for
// this id", so an id can be created once only. A client's own id that is
// taken is a conflict; a generated one is replaced and tried again.
func (s *server) publishRequested(ctx context.Context, req createRequest) (workorder.ID, uint64, error) {
	for attempt := 1; ; attempt++ {
		id := req.ID
		if id == "" {
			id = s.NewID()
		}
		seq, err := s.publishRequestedFor(ctx, id, req)
		switch {
		case err == nil:
			tagWorkOrder(ctx, id)
			return id, seq, nil
		case errors.Is(err, bus.ErrConflict) && req.ID == "" && attempt < newIDAttempts:
			s.log.Warn("generated work order id already taken; drawing another", "work_order_id", string(id))
			continue
		case errors.Is(err, bus.ErrConflict):
			return "", 0, &problem{status: http.StatusConflict,
				detail: fmt.Sprintf("agent_work_order_id: work order %s already exists", id), cause: err}
		default:
			return "", 0, err
		}
	}
}

// publishRequestedFor appends workorder.requested for id, guarded by "no
// event yet for this id": bus.ErrConflict when the id is taken.
func (s *server) publishRequestedFor(ctx context.Context, id workorder.ID, req createRequest) (uint64, error) {
	data := req.Requested
	data.WorkOrderID = id
	e := s.Publisher.Event(string(id)+".requested", events.TypeRequested, id, &data)
	pctx, cancel := context.WithTimeout(ctx, s.PublishTimeout)
	defer cancel()
	var none uint64
	seq, err := s.Publisher.PublishEvent(pctx, e, &none)
	switch {
	case err == nil:
		s.published(seq)
		return seq, nil
	case errors.Is(err, bus.ErrConflict):
		return 0, err
	}
	return 0, fmt.Errorf("recording work order %s: %w: %w", id, errPublish, err)
}

// published remembers the highest sequence this process wrote.
func (s *server) published(seq uint64) {
	for {
		cur := s.lastPublished.Load()
		if seq <= cur || s.lastPublished.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// caughtUp waits, briefly, until the read store reflects everything this
// process has written and the backlog present at start.
func (s *server) caughtUp(ctx context.Context) error {
	if s.Projection == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.ReadWait)
	defer cancel()
	if err := s.Projection.WaitFor(ctx, s.lastPublished.Load()); err != nil {
		return fmt.Errorf("%w: %w", errBehind, err)
	}
	return nil
}

func (s *server) list(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilter(r)
	if err != nil {
		return err
	}
	if err := s.caughtUp(r.Context()); err != nil {
		return err
	}
	// An explicit limit above AWO_LIST_MAX is clamped rather than refused,
	// so a client written for the documented 1..1000 keeps working where an
	// operator set a lower cap; X-Total-Count tells it what it missed.
	want := s.ListMax
	if f.Limit > 0 {
		want = min(f.Limit, s.ListMax)
	}
	wos, total, err := s.listCounted(r.Context(), f, want)
	if err != nil {
		return err
	}
	if wos == nil {
		wos = []readmodel.WorkOrder{}
	}
	// The body stays the Python service's bare list; the total rides in a header.
	w.Header().Set(totalCountHeader, strconv.Itoa(total))
	writeWorkOrders(w, wos)
	return nil
}

// Paging of the list. A client that sends no limit gets every work order, as
// the Python service did, up to AWO_LIST_MAX (Options.ListMax): clients written for
// the Python service must not silently miss the older ones, and nobody may make one
// answer hold the whole store. A limit (at most MaxListLimit) plus
// X-Total-Count pages instead.
const (
	MaxListLimit     = 1000
	totalCountHeader = "X-Total-Count"
	// listPageSize is how many work orders one store read fetches: a list
	// is served from bounded queries, never one unbounded one, so neither
	// a database connection nor the memory store's lock is held for long.
	listPageSize = 500
)

// writeWorkOrders answers 200 with wos as a JSON array: the bytes
// json.Marshal(wos) would write, without its second pass over each work
// order's MarshalJSON output (encoding/json compacts and re-escapes what
// a Marshaler returns, which json.Marshal inside it had already done):
// that pass was a third of the all-in-one's CPU at 2,000 list and get
// reads a second (docs/performance.md).
func writeWorkOrders(w http.ResponseWriter, wos []readmodel.WorkOrder) {
	body, err := workOrdersJSON(wos)
	if err != nil {
		http.Error(w, `{"detail":"internal server error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func workOrdersJSON(wos []readmodel.WorkOrder) ([]byte, error) {
	body := make([]byte, 0, 1024*len(wos)+3)
	body = append(body, '[')
	for i, wo := range wos {
		b, err := wo.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encoding work order %s: %w", wo.AgentWorkOrderID, err)
		}
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, b...)
	}
	return append(body, ']', '\n'), nil
}

// countedLister is a Store that lists a page and counts its filter in
// one round trip (pgstore: a list is otherwise two queries, two holds of
// a pool connection).
type countedLister interface {
	ListCounted(ctx context.Context, f readmodel.Filter) ([]readmodel.WorkOrder, int, error)
}

// listCounted reads up to want work orders matching f from f.Offset and
// how many match f in all. Counted after listing: a work order created
// in between makes the total one too high, which a client paging on it
// tolerates; too low would hide the last page.
func (s *server) listCounted(ctx context.Context, f readmodel.Filter, want int) ([]readmodel.WorkOrder, int, error) {
	if cl, ok := s.Store.(countedLister); ok && want <= s.listPage {
		pf := f
		pf.Offset, pf.Limit = max(f.Offset, 0), want
		wos, total, err := cl.ListCounted(ctx, pf)
		if err != nil {
			return nil, 0, fmt.Errorf("listing work orders: %w", err)
		}
		return wos, total, nil
	}
	wos, err := s.listPages(ctx, f, want)
	if err != nil {
		return nil, 0, fmt.Errorf("listing work orders: %w", err)
	}
	total, err := s.Store.Count(ctx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("counting work orders: %w", err)
	}
	return wos, total, nil
}

// listPages reads up to want work orders matching f, starting at f.Offset,
// page by page. A work order created between two reads shifts the later
// ones down by one, so the next page starts with one already read: ids
// seen are skipped, and nothing is lost (rows are never deleted).
func (s *server) listPages(ctx context.Context, f readmodel.Filter, want int) ([]readmodel.WorkOrder, error) {
	out := make([]readmodel.WorkOrder, 0, min(want, s.listPage))
	seen := make(map[workorder.ID]struct{}, min(want, s.listPage))
	for offset := f.Offset; len(out) < want; {
		pf := f
		pf.Offset, pf.Limit = offset, min(s.listPage, want-len(out))
		page, err := s.Store.List(ctx, pf)
		if err != nil {
			return nil, err
		}
		for _, wo := range page {
			if _, dup := seen[wo.AgentWorkOrderID]; !dup && len(out) < want {
				seen[wo.AgentWorkOrderID] = struct{}{}
				out = append(out, wo)
			}
		}
		if len(page) < pf.Limit {
			break
		}
		offset += len(page)
	}
	return out, nil
}

// parseFilter reads the Python service's ?status= plus repository_url, limit and
// offset.
func parseFilter(r *http.Request) (readmodel.Filter, error) {
	q := r.URL.Query()
	var f readmodel.Filter
	var problems []string
	if v := q.Get("status"); v != "" {
		st, err := workorder.ParseStatus(v)
		if err != nil {
			problems = append(problems, plain(err))
		}
		f.Status = st
	}
	// Filter values reach the store: PostgreSQL answers a NUL or invalid
	// UTF-8 with an error (a 500), the memory store with nothing; both get
	// the 422 here instead.
	raw := q.Get("repository_url")
	f.RepositoryURL = strings.TrimSpace(raw)
	if err := freetext.Check("repository_url", raw, maxURLBytes); err != nil {
		problems = append(problems, err.Error())
	}
	problems = append(problems, parsePaging(q, MaxListLimit, &f.Limit, &f.Offset)...)
	if len(problems) > 0 {
		return readmodel.Filter{}, unprocessable(strings.Join(problems, "; "))
	}
	return f, nil
}

// parsePaging reads ?limit= (1..maxLimit) and ?offset= into the given
// fields, leaving them as they are when absent, and returns what is wrong.
func parsePaging(q url.Values, maxLimit int, limit, offset *int) []string {
	var problems []string
	for _, p := range []struct {
		name    string
		dst     *int
		min, mx int
	}{{"limit", limit, 1, maxLimit}, {"offset", offset, 0, 1 << 30}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < p.min || n > p.mx {
			problems = append(problems, fmt.Sprintf("%s: must be a whole number from %d to %d, got %q", p.name, p.min, p.mx, v))
			continue
		}
		*p.dst = n
	}
	return problems
}

func (s *server) get(w http.ResponseWriter, r *http.Request) error {
	wo, err := s.workOrder(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wo)
	return nil
}

func (s *server) steps(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.caughtUp(r.Context()); err != nil {
		return err
	}
	steps, err := s.Store.Steps(r.Context(), id)
	if err != nil {
		return fmt.Errorf("reading steps of %s: %w", id, err)
	}
	if steps == nil {
		steps = []readmodel.StepRecord{}
	}
	writeJSON(w, http.StatusOK, stepHistory{AgentWorkOrderID: id, Steps: steps})
	return nil
}

// pathID is the work-order id of the path, checked before it names any
// NATS subject. An id that cannot be one is a work order that does not
// exist: 404 as for an unknown one, as Archon's service answers (its ids
// are free strings), so its clients see one answer for both.
func pathID(r *http.Request) (workorder.ID, error) {
	id, err := workorder.ParseID(chi.URLParam(r, idParam))
	if err != nil {
		return "", &problem{status: http.StatusNotFound, detail: notFound, cause: err}
	}
	return id, nil
}

// defaultCap gives a create that set no max_cost_usd the configured cap
// (AWO_MAX_COST_USD), recorded in the event so a later change of the
// setting does not change a work order already asked for. A work order
// whose agent reports no cost (codex without a price) gets none: the cap
// could never be checked, and its max_cost_usd shows null, which is what
// holds, rather than a cap that is not kept.
func (s *server) defaultCap(req *createRequest) {
	if req.Requested.MaxCostUSD == 0 && !s.costUnknown(agentName(req.Requested.Agent)) {
		req.Requested.MaxCostUSD = s.MaxCostUSD
	}
}

// agentName is the agent a work order recorded: "" is claude's, as in
// events written before agents.
func agentName(recorded string) string {
	if recorded == "" {
		return config.AgentClaude
	}
	return recorded
}
