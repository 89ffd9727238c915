//go:build unix && !linux

package agent

// process is a descendant of the CLI; only Linux lists them (via /proc).
type process struct{ pid int }

// descendants knows no portable way to list a process tree, so elsewhere
// only the CLI's process group is signalled.
func descendants(int) []process { return nil }

func (process) unchanged() bool { return false }
