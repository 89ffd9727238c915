package sandbox

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
)

// The cached clone of a repository is shared by the worktrees of every work
// order on it, and its .git (hooks, config) is writable from each of them:
// an agent can plant a post-checkout hook, an fsmonitor command, a filter
// driver or a credential helper there, which the executor's next git in
// any work order on that repository would run. So every git the executor
// runs gets these settings on its command line, where they beat the
// repository's configuration:
//
//   - core.hooksPath=/dev/null: no hook runs (post-checkout, pre-push,
//     reference-transaction, ...).
//   - core.fsmonitor=false: no fsmonitor hook command.
//   - credential.helper= resets the helper list (from every level,
//     repository included; URL-scoped ones too), then the operator's own
//     helpers, read once from their global and system configuration, are
//     added back in their order; core.askPass likewise.
//   - protocol.ext.allow, protocol.fd.allow, protocol.git.allow=never: a
//     rewritten origin cannot run a command through a remote helper or
//     core.gitProxy.
//   - --upload-pack and --receive-pack on every clone, fetch and push
//     (packPrograms): remote.origin.uploadpack/receivepack name programs
//     run on this machine for a local origin, and a -c cannot beat them.
//   - commit.gpgSign, tag.gpgSign, log.showSignature=false: gpg.program
//     never runs.
//   - fetch.recurseSubmodules, submodule.recurse=false: no submodule's
//     configuration comes into play.
//   - core.pager, core.editor, sequence.editor: GIT_PAGER, GIT_EDITOR and
//     GIT_SEQUENCE_EDITOR in the environment beat them (gitEnv), and
//     core.sshCommand is beaten by GIT_SSH_COMMAND the same way.
//   - filter.<driver>.clean/smudge/process: drivers defined in the
//     repository's configuration are read just before each git that may
//     run them (add, checkout, read-tree, write-tree, worktree, ...) and
//     reset to the operator's definition or to nothing (see neverFilter).
//
// diff.external and textconv are not run because the only diff the
// executor asks for lists names (and says --no-ext-diff --no-textconv).
// What this does not cover is written down in the security notes:
// configuration that redirects origin (remote.origin.url, url.insteadOf)
// or weakens TLS for it (http.sslVerify, http.proxy) still applies.

// operatorConfig is the part of the operator's own git configuration
// (global and system, never a repository's) that the hardening resets and
// adds back.
type operatorConfig struct {
	// credentialHelpers are "key=value" pairs for -c, in configuration
	// order: credential.helper and credential.<url>.helper.
	credentialHelpers []string
	askPass           string
	sshCommand        string
	// filters maps "filter.<driver>.<key>" to the operator's value.
	filters map[string]string
}

// operator reads the operator's configuration once per Manager.
func (m *Manager) operator() *operatorConfig {
	m.operatorOnce.Do(func() {
		m.operatorCfg = m.readOperatorConfig()
	})
	return &m.operatorCfg
}

func (m *Manager) readOperatorConfig() operatorConfig {
	c := operatorConfig{filters: map[string]string{}}
	// Outside any repository (the root directory) only the system and
	// global files are read; --includes follows their include.path.
	for _, e := range m.configEntries("/", `^(credential\..*\.?helper|core\.askpass|core\.sshcommand|filter\..*)$`, "--includes") {
		if e.scope != "system" && e.scope != "global" {
			continue
		}
		switch {
		case strings.HasPrefix(e.key, "credential."):
			if strings.Contains(e.key, "=") {
				m.logger().Warn("ignoring a credential helper whose key holds '=' (git -c cannot pass it)", "key", e.key)
				continue
			}
			c.credentialHelpers = append(c.credentialHelpers, e.key+"="+e.value)
		case e.key == "core.askpass":
			c.askPass = e.value
		case e.key == "core.sshcommand":
			c.sshCommand = e.value
		default:
			c.filters[e.key] = e.value
		}
	}
	return c
}

type configEntry struct{ scope, key, value string }

// configEntries lists the configuration git sees in dir whose keys match
// pattern, with their scope. Errors (no match, git missing) give none.
func (m *Manager) configEntries(dir, pattern string, flags ...string) []configEntry {
	args := append([]string{"config", "--null", "--show-scope"}, flags...)
	args = append(args, "--get-regexp", pattern)
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = m.configEnv()
	out, _ := cmd.Output()
	var entries []configEntry
	// Each entry is "scope\0key\nvalue\0".
	fields := bytes.Split(out, []byte{0})
	for i := 0; i+1 < len(fields); i += 2 {
		key, value, _ := strings.Cut(string(fields[i+1]), "\n")
		entries = append(entries, configEntry{scope: string(fields[i]), key: key, value: value})
	}
	return entries
}

// configEnv is gitEnv without the parts that need the operator's
// configuration (which is being read).
func (m *Manager) configEnv() []string {
	env := make([]string, 0, len(os.Environ())+len(m.Env)+1)
	for _, kv := range append(os.Environ(), m.Env...) {
		name, _, _ := strings.Cut(kv, "=")
		if !repoLocatingVars[name] {
			env = append(env, kv)
		}
	}
	return append(env, "GIT_TERMINAL_PROMPT=0")
}

// neverFilter are the git commands the executor runs that neither read
// nor write a working tree or an index, so never convert file contents.
// Anything else may: even write-tree re-hashes racily clean index entries
// through the clean filter when it writes the index back.
var neverFilter = map[string]bool{
	"rev-parse": true, "symbolic-ref": true, "rev-list": true, "log": true, "cat-file": true,
	"check-ref-format": true, "merge-base": true, "update-ref": true, "commit-tree": true,
	"bundle": true, "push": true, "fetch": true, "ls-remote": true, "clone": true, "config": true,
}

// hardening returns the -c options that come before args (see above).
func (m *Manager) hardening(ctx context.Context, dir string, args []string, network bool) []string {
	op := m.operator()
	h := []string{
		"-c", "core.hooksPath=/dev/null",
		"-c", "core.fsmonitor=false",
		"-c", "core.askPass=" + op.askPass,
		"-c", "credential.helper=",
	}
	for _, kv := range op.credentialHelpers {
		h = append(h, "-c", kv)
	}
	h = append(h,
		"-c", "protocol.ext.allow=never",
		"-c", "protocol.fd.allow=never",
		"-c", "protocol.git.allow=never",
		"-c", "commit.gpgSign=false",
		"-c", "tag.gpgSign=false",
		"-c", "log.showSignature=false",
		"-c", "fetch.recurseSubmodules=false",
		"-c", "submodule.recurse=false",
	)
	if network {
		// A transfer slower than 1000 bytes/s for a minute is given up.
		h = append(h, "-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=60")
	}
	// localConfigFilterFree spares the `git config` when the repository's
	// own files certainly define no driver.
	if !neverFilter[args[0]] && ctx.Err() == nil && !localConfigFilterFree(dir) {
		seen := map[string]bool{}
		for _, e := range m.configEntries(dir, `^filter\.`, "--includes") {
			if e.scope == "system" || e.scope == "global" || e.scope == "command" {
				continue
			}
			driver, ok := filterDriver(e.key)
			if !ok || seen[driver] {
				continue
			}
			seen[driver] = true
			for _, k := range []string{"clean", "smudge", "process"} {
				key := "filter." + driver + "." + k
				h = append(h, "-c", key+"="+op.filters[key])
			}
			required := "filter." + driver + ".required"
			h = append(h, "-c", required+"="+orDefault(op.filters[required], "false"))
		}
	}
	return h
}

// filterDriver returns <driver> of "filter.<driver>.<key>" (config keys
// come lower-cased except the subsection, which may hold dots).
func filterDriver(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "filter.")
	if !ok {
		return "", false
	}
	i := strings.LastIndex(rest, ".")
	if i <= 0 || strings.Contains(rest[:i], "=") {
		return "", false
	}
	return rest[:i], true
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
