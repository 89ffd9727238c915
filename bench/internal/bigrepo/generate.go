// Package bigrepo is the big-repository benchmark: a generated repository
// of tens of thousands of files and hundreds of megabytes of history,
// served from a local bare origin, and what the executor's sandboxes cost
// on it (clone, worktree from the cache, checkpoints).
package bigrepo

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentworkorders/awo/bench/internal/cachelock"
)

// Params shape the generated repository; they name its cache directory.
type Params struct {
	Files          int    `json:"files"`            // files in the tree
	FileBytes      int    `json:"file_bytes"`       // bytes of each file's content
	Commits        int    `json:"commits"`          // commits after the first
	FilesPerCommit int    `json:"files_per_commit"` // files each of them rewrites
	Seed           uint64 `json:"seed"`
}

// DefaultParams: 50,000 files of 2 KiB (a 100 MiB checkout) and 40
// commits rewriting 5,000 of them each, about 490 MiB of history.
// Contents are random, so the pack is about as large as the history.
var DefaultParams = Params{Files: 50_000, FileBytes: 2 << 10, Commits: 40, FilesPerCommit: 5_000, Seed: 17}

// HistoryBytes is the content the history holds, before git compresses it.
func (p Params) HistoryBytes() int64 {
	return int64(p.Files+p.Commits*p.FilesPerCommit) * int64(p.FileBytes)
}

func (p Params) key() string {
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return fmt.Sprintf("bigrepo-v1-%s", hex.EncodeToString(sum[:6]))
}

// path is the tracked file number i: 100 files a directory, two levels.
func path(i int) string {
	return fmt.Sprintf("src/m%02d/d%03d/f%05d.bin", i/10_000, i/100%100, i)
}

// Ensure returns the bare repository of p under cacheDir, generating it
// with git fast-import when it is not there yet (generated is then how
// long that took, else 0). A half-made one from a run cut short is made
// again.
func Ensure(ctx context.Context, cacheDir string, p Params, env []string) (bare string, generated time.Duration, err error) {
	dir := filepath.Join(cacheDir, p.key())
	bare = filepath.Join(dir, "acme", "big.git")
	done := filepath.Join(dir, "done")
	if _, err := os.Stat(done); err == nil {
		return bare, 0, nil
	}
	// A second benchmark started alongside waits for the first's
	// generation instead of removing it half-made.
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", 0, err
	}
	release, err := cachelock.Hold(dir)
	if err != nil {
		return "", 0, err
	}
	defer release()
	if _, err := os.Stat(done); err == nil {
		return bare, 0, nil
	}
	start := time.Now()
	if err := os.RemoveAll(dir); err != nil {
		return "", 0, err
	}
	if err := os.MkdirAll(filepath.Dir(bare), 0o755); err != nil {
		return "", 0, err
	}
	if err := runGit(ctx, env, filepath.Dir(bare), nil, "init", "--quiet", "--bare", "--initial-branch=main", bare); err != nil {
		return "", 0, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeHistory(pw, p)) }()
	if err := runGit(ctx, env, bare, pr, "fast-import", "--quiet", "--done"); err != nil {
		return "", 0, fmt.Errorf("generating the big repository: %w", err)
	}
	meta, _ := json.Marshal(p)
	if err := os.WriteFile(done, meta, 0o644); err != nil {
		return "", 0, err
	}
	return bare, time.Since(start), nil
}

// writeHistory writes p's history as a git fast-import stream: a first
// commit with every file, then commits each rewriting FilesPerCommit files
// picked at random.
func writeHistory(w io.Writer, p Params) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	rng := rand.New(rand.NewChaCha8(seed(p.Seed)))
	buf := make([]byte, p.FileBytes)
	when := int64(1_700_000_000)
	commit := func(n int, msg string, files func(func(int))) {
		fmt.Fprintf(bw, "commit refs/heads/main\nauthor AWO Bench <bench@example.com> %d +0000\n"+
			"committer AWO Bench <bench@example.com> %d +0000\ndata %d\n%s\n", when, when, len(msg), msg)
		when += 3600
		files(func(i int) {
			fillRandom(rng, buf)
			fmt.Fprintf(bw, "M 100644 inline %s\ndata %d\n", path(i), len(buf))
			bw.Write(buf)
			bw.WriteString("\n")
		})
		bw.WriteString("\n")
	}
	commit(0, "Initial import", func(add func(int)) {
		for i := range p.Files {
			add(i)
		}
	})
	for c := 1; c <= p.Commits; c++ {
		commit(c, fmt.Sprintf("Change %d", c), func(add func(int)) {
			for range p.FilesPerCommit {
				add(rng.IntN(p.Files))
			}
		})
	}
	bw.WriteString("done\n")
	return bw.Flush()
}

func seed(s uint64) [32]byte {
	var b [32]byte
	for i := range 4 {
		v := s + uint64(i)
		for j := range 8 {
			b[i*8+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// runGit runs git in dir with env added, stdin from in (nil: none).
func runGit(ctx context.Context, env []string, dir string, in io.Reader, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir, cmd.Stdin = dir, in
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// dirBytes is the size of the regular files under dir.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func execGit(ctx context.Context, env []string, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

func trimNL(b []byte) []byte { return []byte(strings.TrimRight(string(b), "\n")) }

// PackBytes is the size of the bare repository's object store.
func PackBytes(bare string) int64 { return dirBytes(filepath.Join(bare, "objects")) }
