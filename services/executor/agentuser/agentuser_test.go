package agentuser

import (
	"slices"
	"strings"
	"testing"
)

// nobody (65534:65534, group nogroup) is in every Debian user database.

func TestResolve_NamesNumbersAndGroups(t *testing.T) {
	for _, spec := range []string{"nobody", "65534", "nobody:nogroup", "nobody:65534", "65534:65534"} {
		id, err := Resolve(spec, 0)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if id.Name != "nobody" || id.UID != 65534 || id.GID != 65534 || id.Home == "" || !slices.Contains(id.Groups, 65534) {
			t.Errorf("%s: got %+v", spec, id)
		}
		if !id.Switches(0) || id.Switches(65534) {
			t.Errorf("%s: Switches wrong", spec)
		}
	}
}

func TestResolve_RefusesNamingTheVariable(t *testing.T) {
	for _, c := range []struct {
		spec string
		euid int
		want string
	}{
		{"awo-no-such-user", 0, "no user named awo-no-such-user"},
		{"4000000000", 0, "no user with uid 4000000000"},
		{"nobody:awo-no-such-group", 0, "no group named awo-no-such-group"},
		{"root", 0, "must not run as root"},
		{"nobody:0", 0, "must not run as root"},
		{"nobody", 1000, "cannot start the agent as uid 65534"},
	} {
		_, err := Resolve(c.spec, c.euid)
		if err == nil || !strings.Contains(err.Error(), Variable+"="+c.spec) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Resolve(%q, %d) = %v, want an error naming %s and saying %q", c.spec, c.euid, err, Variable, c.want)
		}
	}
	// Already the user: nothing to switch, and nothing refused.
	if id, err := Resolve("nobody", 65534); err != nil || id.Switches(65534) {
		t.Fatalf("as nobody: %+v, %v", id, err)
	}
}

func TestIdentity_Environ_ReplacesHomeAndUserLast(t *testing.T) {
	id := &Identity{Name: "agent", UID: 1001, GID: 1001, Home: "/home/agent"}
	env := id.Environ([]string{"HOME=/root", "PATH=/usr/bin", "USER=root", "LOGNAME=root", "HOME=/root2", "X=1"})
	want := []string{"PATH=/usr/bin", "X=1", "HOME=/home/agent", "USER=agent", "LOGNAME=agent"}
	if !slices.Equal(env, want) {
		t.Fatalf("got %q, want %q", env, want)
	}
}

func TestIdentity_HomeProblem(t *testing.T) {
	id, err := Resolve("nobody", 0)
	if err != nil {
		t.Fatal(err)
	}
	if p := id.HomeProblem(); !strings.Contains(p, "CLAUDE_CONFIG_DIR") { // /nonexistent
		t.Fatalf("nobody's home: %q", p)
	}
	id.Home = t.TempDir() // owned by the test's user, not nobody
	if p := id.HomeProblem(); !strings.Contains(p, "not a directory the user owns") {
		t.Fatalf("foreign home: %q", p)
	}
}
