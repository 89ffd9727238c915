// Package agentuser resolves AWO_AGENT_USER, the Unix user the executor
// runs the agent as, so that the agent cannot read what only the
// executor's own user may: the embedded NATS store under AWO_DATA_DIR
// (every event, the checkpoints), the executor's /proc/<pid>/environ with
// its secrets, the checkpoint bundles of every work order.
package agentuser

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Variable is the setting this package resolves; every error names it.
const Variable = "AWO_AGENT_USER"

// Identity is a resolved agent user.
type Identity struct {
	Name string // login name, for USER and LOGNAME
	UID  uint32
	GID  uint32 // the group sandboxes' shared git store is handed to
	// Groups are the supplementary groups the agent gets, as a login of
	// the user would: its groups in the group database, GID included.
	Groups []uint32
	Home   string // HOME: the CLI keeps its config in ~/.claude
}

// Resolve looks spec (user, uid, user:group or uid:gid, as pkg/config
// accepts it) up in the user and group databases, and checks that an
// executor running as euid can start processes as that user: only root
// can, or the user itself (which then separates nothing; the caller
// should say so).
func Resolve(spec string, euid int) (*Identity, error) {
	fail := func(format string, a ...any) (*Identity, error) {
		return nil, fmt.Errorf("%s=%s: %s", Variable, spec, fmt.Sprintf(format, a...))
	}
	name, group, hasGroup := strings.Cut(spec, ":")
	u, err := lookupUser(name)
	if err != nil {
		return fail("%v", err)
	}
	id := &Identity{Name: u.Username, Home: u.HomeDir}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return fail("user %s has uid %q and gid %q, which are not numbers", name, u.Uid, u.Gid)
	}
	id.UID, id.GID = uint32(uid), uint32(gid)
	if hasGroup {
		g, err := lookupGroup(group)
		if err != nil {
			return fail("%v", err)
		}
		n, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			return fail("group %s has gid %q, which is not a number", group, g.Gid)
		}
		id.GID = uint32(n)
	}
	if id.UID == 0 || id.GID == 0 {
		return fail("resolves to uid %d, gid %d: the agent must not run as root or in root's group", id.UID, id.GID)
	}
	id.Groups = []uint32{id.GID}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			n, err := strconv.ParseUint(s, 10, 32)
			if err != nil || n == 0 || uint32(n) == id.GID {
				continue // never root's group, which could read root's files
			}
			id.Groups = append(id.Groups, uint32(n))
		}
	}
	if id.Home == "" {
		return fail("user %s has no home directory: the claude CLI needs a writable HOME", id.Name)
	}
	if euid != 0 && uint32(euid) != id.UID {
		return fail("the executor runs as uid %d and cannot start the agent as uid %d: run the executor as root (it switches to the agent user for the agent and hands it the sandboxes) or unset %s", euid, id.UID, Variable)
	}
	return id, nil
}

// Switches reports whether an executor running as euid must change user
// to run the agent as id.
func (id *Identity) Switches(euid int) bool { return id != nil && uint32(euid) != id.UID }

// HomeProblem says why the CLI may not start as id for want of a
// writable home, or "" when its home directory is a directory it owns.
// The CLI can do without one when CLAUDE_CONFIG_DIR names a directory the
// user can write; the executor only warns.
func (id *Identity) HomeProblem() string {
	st, err := os.Stat(id.Home)
	if err != nil {
		return fmt.Sprintf("the home directory of %s, %s, is not usable (%v): the claude CLI keeps its config in ~/.claude unless CLAUDE_CONFIG_DIR names a directory the user can write", id.Name, id.Home, errors.Unwrap(err))
	}
	if !st.IsDir() || fileOwnerUID(st) != id.UID {
		return fmt.Sprintf("the home directory of %s, %s, is not a directory the user owns: the claude CLI keeps its config in ~/.claude unless CLAUDE_CONFIG_DIR names a directory the user can write", id.Name, id.Home)
	}
	return ""
}

// Environ returns env with HOME, USER and LOGNAME set to the agent user's,
// replacing the executor's: the CLI writes its config under HOME, and git
// and other tools the agent runs read theirs from there. A step applied
// after the agent's environment is built, so it holds whatever that
// environment is.
func (id *Identity) Environ(env []string) []string {
	set := map[string]string{"HOME": id.Home, "USER": id.Name, "LOGNAME": id.Name}
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if _, replaced := set[k]; !replaced {
			out = append(out, kv)
		}
	}
	for _, k := range []string{"HOME", "USER", "LOGNAME"} {
		out = append(out, k+"="+set[k])
	}
	return out
}

func lookupUser(name string) (*user.User, error) {
	return lookup(name, "user", "uid", user.LookupId, user.Lookup)
}

func lookupGroup(name string) (*user.Group, error) {
	return lookup(name, "group", "gid", user.LookupGroupId, user.LookupGroup)
}

// lookup finds an account by number when name is one, else by name; what
// and idKind name the account kind and its number in the error.
func lookup[T any](name, what, idKind string, byID, byName func(string) (*T, error)) (*T, error) {
	if isNumber(name) {
		v, err := byID(name)
		if err != nil {
			return nil, fmt.Errorf("no %s with %s %s (%v)", what, idKind, name, err)
		}
		return v, nil
	}
	v, err := byName(name)
	if err != nil {
		return nil, fmt.Errorf("no %s named %s (%v)", what, name, err)
	}
	return v, nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// CanTraverse reports, as an error naming the directory in the way,
// whether the user may pass through dir and each directory above it: the
// agent must reach its sandbox under AGENT_WORK_ORDER_TEMP_DIR.
func (id *Identity) CanTraverse(dir string) error {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		uid, gid := fileOwner(st)
		perm := st.Mode().Perm()
		ok := perm&0o001 != 0 || (uid == id.UID && perm&0o100 != 0) || (slices.Contains(id.Groups, gid) && perm&0o010 != 0)
		if !ok {
			return fmt.Errorf("%s (mode %04o, owner %d:%d) cannot be entered by %s", d, perm, uid, gid, id.Name)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
