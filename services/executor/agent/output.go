package agent

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/agentworkorders/awo/pkg/textcut"
)

// drain waits briefly for the readers to reach EOF, then closes the pipes
// so they stop. It reports whether EOF came in time. Either way the readers
// are done when it returns.
func drain(pipes []*os.File, done ...<-chan struct{}) bool {
	timer := time.NewTimer(drainTimeout)
	defer timer.Stop()
	inTime := true
	for _, d := range done {
		select {
		case <-d:
		case <-timer.C:
			inTime = false
			for _, p := range pipes {
				p.Close()
			}
			<-d
		}
	}
	return inTime
}

// streamState is owned by the stdout reader until it finishes.
type streamState struct {
	start     time.Time
	onMessage func(Message)
	log       *slog.Logger

	sessionID string
	result    *ResultLine
	readyOnce bool
	// apiError is the last assistant line's error ("rate_limit").
	apiError string
}

func (s *streamState) read(rd io.Reader) {
	br := bufio.NewReaderSize(rd, 64<<10)
	for {
		line, tooLong, err := readLine(br, maxLineBytes)
		if tooLong {
			s.log.Warn("skipped an over-long line of claude CLI output", "limit_bytes", maxLineBytes)
		} else if line = bytes.TrimSpace(line); len(line) > 0 {
			s.handle(line)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				s.log.Warn("reading claude CLI output", "err", err)
			}
			return
		}
	}
}

func (s *streamState) handle(line []byte) {
	m, err := ParseLine(line)
	if err != nil {
		s.log.Warn("unexpected claude CLI output line", "err", err, "line", textcut.Bytes(string(line), 300, "…"))
		if m.Type == "" {
			return // not JSON: nothing to hand on
		}
	}
	if m.SessionID != "" {
		s.sessionID = m.SessionID
	}
	if m.Init != nil && !s.readyOnce {
		s.readyOnce = true
		s.log.Debug("claude CLI session started", "session_id", m.SessionID, "model", m.Init.Model,
			"version", m.Init.Version, "startup_ms", time.Since(s.start).Milliseconds())
	}
	if m.Result != nil {
		s.result = m.Result
	}
	if m.Error != "" {
		s.apiError = m.Error
	}
	if s.onMessage != nil {
		s.onMessage(m)
	}
}

// readLine reads up to and without the next newline. A line longer than max
// is consumed to its end and reported as tooLong with no content.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return line, tooLong, err
	}
}

// tailBuffer keeps the last max bytes written to it, less the rest of a
// character the cut went through.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], textcut.LastBytes(string(t.buf), t.max, "")...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }
