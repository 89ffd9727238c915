// Package unixuser creates a throwaway Unix user for a test, for code that
// runs processes as another user (AWO_AGENT_USER). It needs root, as CI
// here has; elsewhere the test is skipped saying so.
package unixuser

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"
)

// User is a system user with its own group and a home directory it owns,
// outside any test's private temporary directory so that it can reach it.
type User struct {
	Name     string
	UID, GID int
	Home     string
}

// New creates the user and removes it, its group and its home when the
// test ends.
func New(t testing.TB) *User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a throwaway Unix user (useradd) to run processes as")
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "awo-test-" + hex.EncodeToString(b[:])
	home, err := os.MkdirTemp("", name+"-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	run(t, "useradd", "--system", "--no-create-home", "--home-dir", home, "--user-group", "--shell", "/usr/sbin/nologin", name)
	t.Cleanup(func() {
		// userdel also removes the user's own group.
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Errorf("unixuser: userdel %s: %v\n%s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	return &User{Name: name, UID: uid, GID: gid, Home: home}
}

// run retries while another test holds the lock on /etc/passwd.
func run(t testing.TB, name string, args ...string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err == nil {
			return
		}
		if attempt < 20 && strings.Contains(string(out), "lock") {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		t.Fatalf("unixuser: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// Reachable lets every user traverse dir and each of its parents, as an
// agent user must to reach a sandbox under a test's temporary directory
// (os.MkdirTemp makes them 0700). Nothing becomes listable or readable.
func Reachable(t testing.TB, dir string) {
	t.Helper()
	for d := dir; d != "/" && d != "."; {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, st.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
		parent := d[:strings.LastIndexByte(d, '/')]
		if parent == "" {
			break
		}
		d = parent
	}
}
