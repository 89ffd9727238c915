package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/idempotency"
)

// IdempotencyKeys is the store of claimed Idempotency-Key values shared by
// every gateway replica; *idempotency.Store is one.
type IdempotencyKeys interface {
	Claim(ctx context.Context, key string, rec idempotency.Record) (idempotency.Claim, error)
	Replace(ctx context.Context, key string, rev uint64, rec idempotency.Record) (uint64, error)
	Release(ctx context.Context, key string, rev uint64) error
}

// errIdempotency marks a failure of the key store: the broker, not the
// client, is at fault.
var errIdempotency = errors.New("idempotency store unavailable")

// idempotencyKey reads the create's Idempotency-Key; "" when absent.
func (s *server) idempotencyKey(r *http.Request) (string, error) {
	vals := r.Header.Values(idempotency.Header)
	if len(vals) == 0 {
		return "", nil
	}
	if len(vals) > 1 {
		return "", unprocessable(idempotency.Header + ": send the header once")
	}
	if err := idempotency.ValidateKey(vals[0]); err != nil {
		return "", unprocessable(idempotency.Header + ": " + strings.TrimPrefix(err.Error(), idempotency.ErrInvalidKey.Error()+": "))
	}
	if s.Idempotency == nil {
		return "", &problem{status: http.StatusNotImplemented, detail: idempotency.Header + ": not supported by this gateway (no idempotency store)"}
	}
	return vals[0], nil
}

// publishIdempotent creates the work order a key asks for, once: the first
// request with the key claims it for a work-order id and publishes
// workorder.requested; a later request with the same key and the same
// request answers with that id (replayed true), and publishes the event
// itself if the first died between claiming and publishing. The event id
// is deterministic, so two such publishes record one event.
func (s *server) publishIdempotent(ctx context.Context, key string, req createRequest) (workorder.ID, uint64, bool, error) {
	mine := req.Requested
	mine.WorkOrderID = req.ID // "" when the server picks the id
	hash := idempotency.RequestHash(mine)
	id := req.ID
	if id == "" {
		id = s.NewID()
	}
	claim, err := s.Idempotency.Claim(ctx, key, idempotency.Record{WorkOrderID: id, RequestHash: hash})
	if err != nil {
		return "", 0, false, fmt.Errorf("%w: %w", errIdempotency, err)
	}
	if !claim.Fresh {
		if claim.Record.RequestHash != hash {
			return "", 0, false, unprocessable(idempotency.Header + ": this key was already used for a different request; use a new key for a new work order")
		}
		seq, err := s.replay(ctx, claim.Record.WorkOrderID, req)
		return claim.Record.WorkOrderID, seq, true, err
	}
	// Admitted after the claim, so that a repeat of a create already made
	// answers with its work order above rather than 429; a refusal frees
	// the key for the client's later try.
	release, err := s.admit(ctx, req.Requested.RepositoryURL)
	if err != nil {
		if rerr := s.Idempotency.Release(ctx, key, claim.Revision); rerr != nil {
			s.log.Warn("releasing an idempotency key after a refused create", "work_order_id", string(id), "err", rerr)
		}
		return "", 0, false, err
	}
	defer release()

	for attempt := 1; ; attempt++ {
		seq, err := s.publishRequestedFor(ctx, id, req)
		if errors.Is(err, bus.ErrConflict) {
			// A retry with this key, handled by another replica, may have
			// recorded the work order first.
			recSeq, ours, rerr := s.recorded(ctx, id, req)
			if rerr != nil {
				return "", 0, false, rerr
			}
			if ours {
				return id, recSeq, false, nil
			}
		}
		switch {
		case err == nil:
			return id, seq, false, nil
		case errors.Is(err, bus.ErrConflict) && req.ID == "" && attempt < newIDAttempts:
			// The generated id is taken: draw another and move the key to it.
			s.log.Warn("generated work order id already taken; drawing another", "work_order_id", string(id))
			id = s.NewID()
			rev, rerr := s.Idempotency.Replace(ctx, key, claim.Revision, idempotency.Record{WorkOrderID: id, RequestHash: hash})
			if rerr != nil {
				return "", 0, false, fmt.Errorf("%w: %w", errIdempotency, rerr)
			}
			claim.Revision = rev
		case errors.Is(err, bus.ErrConflict):
			// The client's own id is taken by another work order: refused,
			// and the key is free for the client's next try.
			if rerr := s.Idempotency.Release(ctx, key, claim.Revision); rerr != nil {
				s.log.Warn("releasing an idempotency key after a refused create", "work_order_id", string(id), "err", rerr)
			}
			return "", 0, false, idTaken(id, err)
		default:
			// The key stays claimed: the client's retry publishes.
			return "", 0, false, err
		}
	}
}

// replay makes sure the work order a key was claimed for exists and
// returns the sequence of its workorder.requested.
func (s *server) replay(ctx context.Context, id workorder.ID, req createRequest) (uint64, error) {
	seq, err := s.publishRequestedFor(ctx, id, req)
	if err == nil {
		s.log.Info("idempotent create replayed; recorded the work order the first request did not", "work_order_id", string(id))
		return seq, nil
	}
	if !errors.Is(err, bus.ErrConflict) {
		return 0, err
	}
	// The work order exists. It is this key's unless the client chose an
	// id that another request had taken, and the first request with this
	// key was refused for it (its key is being released).
	seq, ours, rerr := s.recorded(ctx, id, req)
	switch {
	case rerr != nil:
		return 0, rerr
	case !ours:
		return 0, idTaken(id, err)
	}
	return seq, nil
}

// recorded reports whether the workorder.requested stored for id is this
// request, and its sequence, which reads on this replica then wait for.
func (s *server) recorded(ctx context.Context, id workorder.ID, req createRequest) (uint64, bool, error) {
	e, found, err := s.Publisher.LastEvent(ctx, id, events.TypeRequested)
	if err != nil {
		return 0, false, fmt.Errorf("reading the work order an idempotency key created: %w: %w", errPublish, err)
	}
	theirs, ok := e.Data.(*events.Requested)
	ok = ok && found
	mine := req.Requested
	mine.WorkOrderID = id
	if !ok || idempotency.RequestHash(*theirs) != idempotency.RequestHash(mine) {
		return 0, false, nil
	}
	s.published(e.Seq)
	return e.Seq, true, nil
}

func idTaken(id workorder.ID, cause error) error {
	return &problem{status: http.StatusConflict, detail: fmt.Sprintf("agent_work_order_id: work order %s already exists", id), cause: cause}
}
