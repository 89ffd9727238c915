package readmodel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// A finished work order's row is kept packed: its WorkOrder and step
// history in one byte slice, the steps s2-compressed. At 100,000 work
// orders (bench/cmd/history) the rows as Go structs held 3.8 KB each, most
// of it step outputs and error messages behind pointers the GC had to
// scan on every cycle; a []byte holds no pointers, so the GC skips its
// contents, and the text shrinks.
//
// The layout is private to the process (the memory read model is rebuilt
// at every start), so it has no version: uvarint length of the work-order
// part, the work-order part, then the compressed step part. RepositoryURL
// and Status are not in it: the row keeps them beside the bytes, as List
// reads them for every row it walks.

// errCorruptRow means a packed row could not be decoded: a bug, since
// only pack writes them.
var errCorruptRow = errors.New("corrupt packed row")

// pack encodes wo and steps.
func pack(wo WorkOrder, steps []StepRecord) []byte {
	var w packer
	w.workOrder(wo)
	head := w.b
	w = packer{b: make([]byte, 0, 64*len(steps)+64)}
	w.uvarint(uint64(len(steps)))
	for _, s := range steps {
		w.step(s)
	}
	compressed := s2.Encode(nil, w.b)
	out := make([]byte, 0, binary.MaxVarintLen64+len(head)+len(compressed))
	out = binary.AppendUvarint(out, uint64(len(head)))
	out = append(out, head...)
	return append(out, compressed...)
}

// split returns the work-order part and the compressed step part of a
// packed row.
func split(b []byte) (head, steps []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, nil, errCorruptRow
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

// unpackWorkOrder decodes the work order of a packed row, with the
// repository and status the row keeps beside it.
func unpackWorkOrder(b []byte, repo string, status workorder.Status) (WorkOrder, error) {
	head, _, err := split(b)
	if err != nil {
		return WorkOrder{}, err
	}
	r := unpacker{b: head}
	wo := r.workOrder()
	if r.err != nil {
		return WorkOrder{}, fmt.Errorf("decoding the work order: %w", r.err)
	}
	wo.RepositoryURL, wo.Status = repo, status
	return wo, nil
}

// unpackSteps decodes the step history of a packed row.
func unpackSteps(b []byte) ([]StepRecord, error) {
	_, packed, err := split(b)
	if err != nil {
		return nil, err
	}
	raw, err := s2.Decode(nil, packed)
	if err != nil {
		return nil, fmt.Errorf("decompressing the steps: %w", err)
	}
	r := unpacker{b: raw}
	n := r.length()
	steps := make([]StepRecord, 0, n)
	for range n {
		steps = append(steps, r.step())
	}
	if r.err != nil {
		return nil, fmt.Errorf("decoding the steps: %w", r.err)
	}
	return steps, nil
}

func (w *packer) workOrder(wo WorkOrder) {
	w.str(string(wo.AgentWorkOrderID))
	w.str(wo.SandboxIdentifier)
	w.optStr(wo.GitBranchName)
	w.optStr(wo.AgentSessionID)
	w.str(string(wo.SandboxType))
	w.optStr(wo.GitHubIssueNumber)
	w.optStr(wo.CurrentPhase)
	w.time(wo.CreatedAt)
	w.time(wo.UpdatedAt)
	w.optStr(wo.GitHubPullRequestURL)
	w.varint(int64(wo.GitCommitCount))
	w.varint(int64(wo.GitFilesChanged))
	w.optStr(wo.ErrorMessage)
	w.str(wo.UserRequest)
	// nil and empty differ in JSON (null, []): length plus one, 0 for nil.
	if wo.SelectedCommands == nil {
		w.uvarint(0)
	} else {
		w.uvarint(uint64(len(wo.SelectedCommands)) + 1)
	}
	for _, s := range wo.SelectedCommands {
		w.str(string(s))
	}
	w.optStr(wo.BaseBranch)
	w.f64(wo.CostUSD)
	w.varint(wo.InputTokens)
	w.varint(wo.OutputTokens)
	w.f64(wo.TotalCostUSD)
	w.bool(wo.MaxCostUSD != nil)
	if wo.MaxCostUSD != nil {
		w.f64(*wo.MaxCostUSD)
	}
	w.bool(wo.WaitingUntil != nil)
	if wo.WaitingUntil != nil {
		w.time(*wo.WaitingUntil)
	}
	w.str(wo.Agent)
	w.bool(wo.CostUnknown)
	w.varint(int64(wo.Round))
	w.optStr(wo.LatestCommitMessage)
	w.uvarint(wo.Version)
}

func (r *unpacker) workOrder() WorkOrder {
	var wo WorkOrder
	wo.AgentWorkOrderID = workorder.ID(r.str())
	wo.SandboxIdentifier = r.str()
	wo.GitBranchName = r.optStr()
	wo.AgentSessionID = r.optStr()
	wo.SandboxType = workorder.SandboxType(r.str())
	wo.GitHubIssueNumber = r.optStr()
	wo.CurrentPhase = r.optStr()
	wo.CreatedAt = r.time()
	wo.UpdatedAt = r.time()
	wo.GitHubPullRequestURL = r.optStr()
	wo.GitCommitCount = int(r.varint())
	wo.GitFilesChanged = int(r.varint())
	wo.ErrorMessage = r.optStr()
	wo.UserRequest = r.str()
	switch n := r.uvarint(); {
	case n == 0:
	case n-1 > uint64(len(r.b)):
		r.fail()
	default:
		wo.SelectedCommands = make([]workorder.Step, n-1)
		for i := range wo.SelectedCommands {
			wo.SelectedCommands[i] = workorder.Step(r.str())
		}
	}
	wo.BaseBranch = r.optStr()
	wo.CostUSD = r.f64()
	wo.InputTokens = r.varint()
	wo.OutputTokens = r.varint()
	wo.TotalCostUSD = r.f64()
	if r.bool() {
		v := r.f64()
		wo.MaxCostUSD = &v
	}
	if r.bool() {
		t := r.time()
		wo.WaitingUntil = &t
	}
	wo.Agent = r.str()
	wo.CostUnknown = r.bool()
	wo.Round = int(r.varint())
	wo.LatestCommitMessage = r.optStr()
	wo.Version = r.uvarint()
	return wo
}

func (w *packer) step(s StepRecord) {
	w.str(string(s.Step))
	w.str(s.AgentName)
	w.bool(s.Success)
	w.optStr(s.Output)
	w.optStr(s.ErrorMessage)
	w.f64(s.DurationSeconds)
	w.optStr(s.SessionID)
	w.time(s.Timestamp)
	w.varint(int64(s.Attempt))
	w.f64(s.CostUSD)
	w.varint(s.InputTokens)
	w.varint(s.OutputTokens)
	w.varint(int64(s.NumTurns))
	w.bool(s.CostUnknown)
	w.varint(int64(s.Round))
}

func (r *unpacker) step() StepRecord {
	var s StepRecord
	s.Step = workorder.Step(r.str())
	s.AgentName = r.str()
	s.Success = r.bool()
	s.Output = r.optStr()
	s.ErrorMessage = r.optStr()
	s.DurationSeconds = r.f64()
	s.SessionID = r.optStr()
	s.Timestamp = r.time()
	s.Attempt = int(r.varint())
	s.CostUSD = r.f64()
	s.InputTokens = r.varint()
	s.OutputTokens = r.varint()
	s.NumTurns = int(r.varint())
	s.CostUnknown = r.bool()
	s.Round = int(r.varint())
	return s
}

// packer appends values to b.
type packer struct{ b []byte }

func (w *packer) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *packer) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *packer) f64(v float64)    { w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(v)) }

func (w *packer) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *packer) str(s string) {
	w.uvarint(uint64(len(s)))
	w.b = append(w.b, s...)
}

// optStr writes nil as 0 and a string as its length plus one.
func (w *packer) optStr(p *string) {
	if p == nil {
		w.uvarint(0)
		return
	}
	w.uvarint(uint64(len(*p)) + 1)
	w.b = append(w.b, *p...)
}

// time keeps the instant and the zone offset (time.Time's binary form),
// so that the JSON a client reads is the same as before packing.
func (w *packer) time(t time.Time) {
	at := len(w.b)
	w.b = append(w.b, 0)
	var err error
	if w.b, err = t.AppendBinary(w.b); err != nil {
		// Only a zone offset that is not a whole minute, or one past
		// ±32767 minutes, fails; no event time has one. Keep the instant.
		w.b, _ = t.UTC().AppendBinary(w.b[:at+1])
	}
	w.b[at] = byte(len(w.b) - at - 1)
}

// unpacker reads what packer wrote; the first error sticks and later
// reads return zero values.
type unpacker struct {
	b   []byte
	err error
}

func (r *unpacker) fail() { r.err, r.b = errCorruptRow, nil }

func (r *unpacker) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *unpacker) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// length reads a count and checks it against what is left, so a corrupt
// count cannot make a huge allocation.
func (r *unpacker) length() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *unpacker) f64() float64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *unpacker) bool() bool {
	if len(r.b) < 1 {
		r.fail()
		return false
	}
	v := r.b[0] != 0
	r.b = r.b[1:]
	return v
}

func (r *unpacker) bytes(n int) []byte {
	if n > len(r.b) {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *unpacker) str() string { return string(r.bytes(r.length())) }

func (r *unpacker) optStr() *string {
	n := r.uvarint()
	if n == 0 || r.err != nil {
		return nil
	}
	if n-1 > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	s := string(r.bytes(int(n - 1)))
	return &s
}

func (r *unpacker) time() time.Time {
	b := r.bytes(r.length())
	var t time.Time
	if r.err == nil {
		if err := t.UnmarshalBinary(b); err != nil {
			r.fail()
		}
	}
	return t
}
