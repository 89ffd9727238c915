package readmodel

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// The field-by-field codec of a snapshot's rows. A field added to
// WorkOrder or StepRecord must be added here (and SnapshotFormat bumped):
// TestSnapshotCodecCoversEveryField fails until it is.

var errTruncated = errors.New("truncated")

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) float(v float64) {
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v))
}

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) str(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) optStr(p *string) {
	e.bool(p != nil)
	if p != nil {
		e.str(*p)
	}
}

// time keeps the instant and the zone offset (time.Time's binary form),
// so a restored row prints its times as the replay would.
func (e *encoder) time(t time.Time) {
	n := len(e.b)
	e.b = append(e.b, 0)
	e.b, _ = t.AppendBinary(e.b) // fails only for a zone offset no event carries
	e.b[n] = byte(len(e.b) - n - 1)
}

func (e *encoder) workOrder(wo WorkOrder) {
	e.str(string(wo.AgentWorkOrderID))
	e.str(wo.RepositoryURL)
	e.str(wo.SandboxIdentifier)
	e.optStr(wo.GitBranchName)
	e.optStr(wo.AgentSessionID)
	e.str(string(wo.SandboxType))
	e.optStr(wo.GitHubIssueNumber)
	e.str(string(wo.Status))
	e.optStr(wo.CurrentPhase)
	e.time(wo.CreatedAt)
	e.time(wo.UpdatedAt)
	e.optStr(wo.GitHubPullRequestURL)
	e.int(int64(wo.GitCommitCount))
	e.int(int64(wo.GitFilesChanged))
	e.optStr(wo.ErrorMessage)
	e.str(wo.UserRequest)
	e.bool(wo.SelectedCommands != nil)
	e.uint(uint64(len(wo.SelectedCommands)))
	for _, s := range wo.SelectedCommands {
		e.str(string(s))
	}
	e.optStr(wo.BaseBranch)
	e.float(wo.CostUSD)
	e.int(wo.InputTokens)
	e.int(wo.OutputTokens)
	e.float(wo.TotalCostUSD)
	e.bool(wo.MaxCostUSD != nil)
	if wo.MaxCostUSD != nil {
		e.float(*wo.MaxCostUSD)
	}
	e.bool(wo.WaitingUntil != nil)
	if wo.WaitingUntil != nil {
		e.time(*wo.WaitingUntil)
	}
	e.str(wo.Agent)
	e.bool(wo.CostUnknown)
	e.int(int64(wo.Round))
	e.optStr(wo.LatestCommitMessage)
	e.uint(wo.Version)
}

func (e *encoder) step(s StepRecord) {
	e.str(string(s.Step))
	e.str(s.AgentName)
	e.bool(s.Success)
	e.optStr(s.Output)
	e.optStr(s.ErrorMessage)
	e.float(s.DurationSeconds)
	e.optStr(s.SessionID)
	e.time(s.Timestamp)
	e.int(int64(s.Attempt))
	e.float(s.CostUSD)
	e.int(s.InputTokens)
	e.int(s.OutputTokens)
	e.int(int64(s.NumTurns))
	e.bool(s.CostUnknown)
	e.int(int64(s.Round))
}

// decoder reads what encoder wrote. The first problem sticks in err and
// every later read returns a zero value, so callers check once per row.
type decoder struct {
	b   []byte
	err error
	// strs interns the few values many rows repeat (repository, status,
	// step and agent names): one copy each instead of one per row.
	strs map[string]string
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.fail(errTruncated)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *decoder) bool() bool {
	if len(d.b) < 1 {
		d.fail(errTruncated)
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v != 0
}

func (d *decoder) bytes() []byte {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail(errTruncated)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes()) }

// common is str for a value many rows share.
func (d *decoder) common() string {
	b := d.bytes()
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.strs != nil && len(d.strs) < 4096 {
		d.strs[s] = s
	}
	return s
}

func (d *decoder) optStr() *string {
	if !d.bool() {
		return nil
	}
	s := d.str()
	return &s
}

func (d *decoder) time() time.Time {
	n := 0
	if len(d.b) > 0 {
		n = int(d.b[0])
	}
	if len(d.b) < n+1 {
		d.fail(errTruncated)
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalBinary(d.b[1 : n+1]); err != nil {
		d.fail(err)
		return time.Time{}
	}
	d.b = d.b[n+1:]
	return t
}

func (d *decoder) workOrder() WorkOrder {
	var wo WorkOrder
	wo.AgentWorkOrderID = workorder.ID(d.str())
	wo.RepositoryURL = d.common()
	wo.SandboxIdentifier = d.str()
	wo.GitBranchName = d.optStr()
	wo.AgentSessionID = d.optStr()
	wo.SandboxType = workorder.SandboxType(d.common())
	wo.GitHubIssueNumber = d.optStr()
	wo.Status = workorder.Status(d.common())
	wo.CurrentPhase = d.optStr()
	wo.CreatedAt = d.time()
	wo.UpdatedAt = d.time()
	wo.GitHubPullRequestURL = d.optStr()
	wo.GitCommitCount = int(d.int())
	wo.GitFilesChanged = int(d.int())
	wo.ErrorMessage = d.optStr()
	wo.UserRequest = d.str()
	if d.bool() {
		n := d.uint()
		if n > uint64(len(d.b)) {
			d.fail(errTruncated)
			return wo
		}
		wo.SelectedCommands = make([]workorder.Step, n)
		for i := range wo.SelectedCommands {
			wo.SelectedCommands[i] = workorder.Step(d.common())
		}
	} else if d.uint() != 0 {
		d.fail(errors.New("commands in a nil list"))
	}
	wo.BaseBranch = d.optStr()
	wo.CostUSD = d.float()
	wo.InputTokens = d.int()
	wo.OutputTokens = d.int()
	wo.TotalCostUSD = d.float()
	if d.bool() {
		v := d.float()
		wo.MaxCostUSD = &v
	}
	if d.bool() {
		t := d.time()
		wo.WaitingUntil = &t
	}
	wo.Agent = d.common()
	wo.CostUnknown = d.bool()
	wo.Round = int(d.int())
	wo.LatestCommitMessage = d.optStr()
	wo.Version = d.uint()
	return wo
}

func (d *decoder) step() StepRecord {
	var s StepRecord
	s.Step = workorder.Step(d.common())
	s.AgentName = d.common()
	s.Success = d.bool()
	s.Output = d.optStr()
	s.ErrorMessage = d.optStr()
	s.DurationSeconds = d.float()
	s.SessionID = d.optStr()
	s.Timestamp = d.time()
	s.Attempt = int(d.int())
	s.CostUSD = d.float()
	s.InputTokens = d.int()
	s.OutputTokens = d.int()
	s.NumTurns = int(d.int())
	s.CostUnknown = d.bool()
	s.Round = int(d.int())
	return s
}
