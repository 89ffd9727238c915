package bigrepo

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// The whole run at a small scale: every figure is taken, the small change
// is a small bundle, and untracked output over the limit stays out of it.
func TestRun_SmallRepository(t *testing.T) {
	p := Params{Files: 500, FileBytes: 512, Commits: 2, FilesPerCommit: 50, Seed: 2}
	gitconfig := filepath.Join(t.TempDir(), "gitconfig")
	if err := os.WriteFile(gitconfig, []byte("[user]\n\tname = t\n\temail = t@example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"GIT_CONFIG_GLOBAL=" + gitconfig, "GIT_CONFIG_NOSYSTEM=1"}
	bare, _, err := Ensure(t.Context(), t.TempDir(), p, env)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(t.Context(), Config{Origin: "file://" + bare, Env: env, Tmp: t.TempDir(), Reps: 1,
		Untracked: 2 << 20, MaxBytes: 512 << 10, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if r.FirstPrepareSeconds <= 0 || r.LaterPrepareSeconds <= 0 || r.PlainWorktreeSeconds <= 0 || r.SmallChange.RestoreSeconds <= 0 {
		t.Fatalf("missing figures: %+v", r)
	}
	if r.SmallChange.BundleBytes == 0 || r.SmallChange.BundleBytes > 16<<10 || r.SmallChange.LeftOutBytes != 0 {
		t.Errorf("small change: %+v", r.SmallChange)
	}
	u := r.UntrackedOutput
	if u.LeftOutBytes != 2<<20 || u.BundleBytes > 16<<10 || len(u.LeftOut) != 1 || u.LeftOut[0] != "node_modules/" {
		t.Errorf("untracked output: %+v; want node_modules/ left out and a small bundle", u)
	}
}
