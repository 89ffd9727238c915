package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// process identifies a running process: pid plus start time, because a pid
// alone may be reused once the process is gone.
type process struct {
	pid   int
	start uint64 // clock ticks after boot, field 22 of /proc/<pid>/stat
}

// descendants lists every process below root. The CLI runs its Bash tool
// in a new session (measured with 2.1.328: bash -c ... with its own sid and
// pgid), so signalling the CLI's process group misses the commands the
// agent is running; they are found by walking parent links in /proc.
func descendants(root int) []process {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]process{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, start, ok := readStat(pid)
		if !ok {
			continue
		}
		children[ppid] = append(children[ppid], process{pid: pid, start: start})
	}
	var out []process
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}

func (p process) unchanged() bool {
	_, start, ok := readStat(p.pid)
	return ok && start == p.start
}

// readStat returns the parent pid and start time from /proc/<pid>/stat.
// The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func readStat(pid int) (ppid int, start uint64, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	// After ')': state(3) ppid(4) pgrp(5) ... starttime(22).
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return 0, 0, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	start, err2 := strconv.ParseUint(string(f[19]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return ppid, start, true
}
