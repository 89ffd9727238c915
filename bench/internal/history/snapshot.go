package history

import (
	"context"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// memoryEnv starts the all-in-one with the memory read model, logging at
// info so the snapshot's lines (written, loaded) can be read back.
var memoryEnv = map[string]string{"STATE_STORAGE_TYPE": "memory", "LOG_LEVEL": "info"}

// SnapshotStart is the memory read model's start-up from the snapshot a
// previous start on the same store wrote.
type SnapshotStart struct {
	Loaded    bool    `json:"loaded"`
	StartupS  float64 `json:"startup_s"`
	RSSMB     float64 `json:"rss_after_startup_mb"`
	PeakRSSMB float64 `json:"peak_rss_mb"`
	Bytes     float64 `json:"snapshot_bytes"`
	Rows      int     `json:"snapshot_rows"`
	// EncodeMs is how long the writer held the store to encode it (the
	// rows copied and compressed), WriteMs the whole write with the put.
	EncodeMs float64 `json:"snapshot_encode_ms"`
	WriteMs  float64 `json:"snapshot_write_ms"`
	// LoadMs is the load at start: read from the bucket, checked, decoded
	// and put in.
	LoadMs float64 `json:"snapshot_load_ms"`
}

// snapshotStart starts the all-in-one again on dir, which a first start
// has left with its snapshot (its log at firstLog), and times it to ready.
func snapshotStart(ctx context.Context, p Plan, dir, firstLog string) (*SnapshotStart, error) {
	s := &SnapshotStart{}
	if line := findLine(firstLog, "read-model snapshot written"); line != "" {
		s.Bytes = float64(attrInt(line, "bytes"))
		s.Rows = int(attrInt(line, "rows"))
		s.EncodeMs, s.WriteMs = attrMs(line, "encode"), attrMs(line, "took")
	}
	logPath := filepath.Join(p.Tmp, "memory-snapshot.log")
	start := time.Now()
	proc, err := Start(p.Bin, dir, logPath, memoryEnv)
	if err != nil {
		return nil, err
	}
	defer proc.Stop()
	took, err := proc.WaitReady(ctx, start, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	s.StartupS = took.Seconds()
	s.RSSMB, s.PeakRSSMB, _ = proc.RSS()
	if line := findLine(logPath, "read model loaded from its snapshot"); line != "" {
		s.Loaded, s.LoadMs = true, attrMs(line, "took")
	} else if line := findLine(logPath, "ignoring the read-model snapshot"); line != "" {
		log.Printf("history: the second start ignored the snapshot: %s", line)
	}
	log.Printf("history: memory start-up with a snapshot %.2f s (loaded %t: %.1f MB, %d rows, load %.0f ms; written in %.0f ms, encode %.0f ms), RSS %.0f MB (peak %.0f MB)",
		s.StartupS, s.Loaded, s.Bytes/1e6, s.Rows, s.LoadMs, s.WriteMs, s.EncodeMs, s.RSSMB, s.PeakRSSMB)
	return s, nil
}

// findLine is the last line of the log at path holding msg.
func findLine(path, msg string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	last := ""
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, msg) {
			last = strings.TrimSpace(line)
		}
	}
	return last
}

func attr(line, key string) string {
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(key) + `=("[^"]*"|\S+)`).FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	return strings.Trim(m[1], `"`)
}

func attrInt(line, key string) int64 {
	n, _ := strconv.ParseInt(attr(line, key), 10, 64)
	return n
}

// attrMs reads a duration attribute (slog prints "1.234s") in ms.
func attrMs(line, key string) float64 {
	d, err := time.ParseDuration(attr(line, key))
	if err != nil {
		return 0
	}
	return float64(d) / float64(time.Millisecond)
}
