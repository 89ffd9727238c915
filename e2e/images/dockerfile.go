// Package images checks the repository's Dockerfile against the Makefile
// without a Docker daemon: the images cannot be built on the machines
// that run the tests, so a test reads both files and fails when they
// drift apart (see dockerfile_test.go).
package images

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Instruction is one Dockerfile instruction, continuation lines joined.
type Instruction struct {
	Line int    // where it starts, 1-based
	Cmd  string // upper case: FROM, RUN, ENV, ...
	Args string // the rest, as written
}

// Stage is one FROM and what follows it.
type Stage struct {
	Name  string // AS name; "" when unnamed
	Base  string // the image or stage it starts from
	Line  int
	Instr []Instruction
}

// Dockerfile is a parsed Dockerfile: the ARGs before the first FROM and
// the stages in order.
type Dockerfile struct {
	GlobalArgs map[string]string // name → default ("" when none)
	Stages     []*Stage
}

// ParseDockerfile reads path. It understands what this repository's
// Dockerfile uses: comments, the parser directive, continuation lines
// and one instruction per logical line; it is no general parser (no
// heredocs, no escape directive).
func ParseDockerfile(path string) (*Dockerfile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := &Dockerfile{GlobalArgs: map[string]string{}}
	var cur *Stage
	var buf strings.Builder
	start := 0
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if buf.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if buf.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if buf.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(trimmed, "\\") {
			buf.WriteString(strings.TrimSuffix(trimmed, "\\"))
			buf.WriteString(" ")
			continue
		}
		buf.WriteString(trimmed)
		in, err := instruction(start, buf.String())
		buf.Reset()
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, start, err)
		}
		switch {
		case in.Cmd == "FROM":
			cur, err = fromStage(in)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, start, err)
			}
			d.Stages = append(d.Stages, cur)
		case cur == nil && in.Cmd == "ARG":
			name, def, _ := strings.Cut(in.Args, "=")
			d.GlobalArgs[strings.TrimSpace(name)] = unquote(strings.TrimSpace(def))
		case cur == nil:
			return nil, fmt.Errorf("%s:%d: %s before the first FROM", path, start, in.Cmd)
		default:
			cur.Instr = append(cur.Instr, in)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if buf.Len() > 0 {
		return nil, fmt.Errorf("%s:%d: the file ends inside a continued instruction", path, start)
	}
	return d, nil
}

func instruction(line int, text string) (Instruction, error) {
	cmd, args, _ := strings.Cut(text, " ")
	if cmd == "" {
		return Instruction{}, fmt.Errorf("empty instruction")
	}
	return Instruction{Line: line, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}, nil
}

func fromStage(in Instruction) (*Stage, error) {
	var fields []string
	for _, f := range strings.Fields(in.Args) {
		if !strings.HasPrefix(f, "--") { // --platform=...
			fields = append(fields, f)
		}
	}
	s := &Stage{Line: in.Line}
	switch {
	case len(fields) == 1:
		s.Base = fields[0]
	case len(fields) == 3 && strings.EqualFold(fields[1], "AS"):
		s.Base, s.Name = fields[0], fields[2]
	default:
		return nil, fmt.Errorf("FROM %s: want `FROM image [AS name]`", in.Args)
	}
	return s, nil
}

// Stage returns the stage named name, or nil.
func (d *Dockerfile) Stage(name string) *Stage {
	for _, s := range d.Stages {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Chain is s and the stages it is built FROM, s first.
func (d *Dockerfile) Chain(s *Stage) []*Stage {
	var out []*Stage
	for s != nil && len(out) <= len(d.Stages) {
		out = append(out, s)
		s = d.Stage(s.Base)
	}
	return out
}

// Effective is what an image built to stage s is configured with: the
// last USER, ENTRYPOINT and HEALTHCHECK along its chain, every EXPOSE,
// ENV and VOLUME, and the RUN commands (each stage's own and its parents').
type Effective struct {
	User        string
	Entrypoint  []string // exec form
	Healthcheck []string // CMD exec form
	Expose      map[string]bool
	Env         map[string]string
	Volumes     map[string]bool
	Runs        []string
	Copies      []string // COPY arguments
}

// Effective walks s's chain from the first ancestor down.
func (d *Dockerfile) Effective(s *Stage) (Effective, error) {
	e := Effective{Expose: map[string]bool{}, Env: map[string]string{}, Volumes: map[string]bool{}}
	chain := d.Chain(s)
	for i := len(chain) - 1; i >= 0; i-- {
		for _, in := range chain[i].Instr {
			if err := e.apply(in); err != nil {
				return e, fmt.Errorf("line %d: %w", in.Line, err)
			}
		}
	}
	return e, nil
}

func (e *Effective) apply(in Instruction) error {
	var err error
	switch in.Cmd {
	case "USER":
		e.User = in.Args
	case "ENTRYPOINT":
		e.Entrypoint, err = execForm(in.Args)
	case "HEALTHCHECK":
		_, cmd, ok := strings.Cut(in.Args, "CMD ")
		if !ok {
			return fmt.Errorf("HEALTHCHECK without CMD: %s", in.Args)
		}
		e.Healthcheck, err = execForm(cmd)
	case "EXPOSE":
		for _, p := range strings.Fields(in.Args) {
			e.Expose[p] = true
		}
	case "ENV":
		err = parseEnv(in.Args, e.Env)
	case "VOLUME":
		if strings.HasPrefix(in.Args, "[") {
			var vs []string
			if err = json.Unmarshal([]byte(in.Args), &vs); err == nil {
				for _, v := range vs {
					e.Volumes[v] = true
				}
			}
		} else {
			for _, v := range strings.Fields(in.Args) {
				e.Volumes[v] = true
			}
		}
	case "RUN":
		e.Runs = append(e.Runs, in.Args)
	case "COPY":
		e.Copies = append(e.Copies, in.Args)
	}
	return err
}

// execForm reads a JSON array instruction argument; the shell form is
// refused: in the distroless images there is no shell to run it.
func execForm(args string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(args), &out); err != nil {
		return nil, fmt.Errorf("want the exec form [\"...\"], got %s: %w", args, err)
	}
	return out, nil
}

var envPair = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)\s*`)

// parseEnv reads `ENV K=V K2="V 2"` (the legacy `ENV K V` too).
func parseEnv(args string, into map[string]string) error {
	rest := strings.TrimSpace(args)
	if !strings.Contains(strings.SplitN(rest, " ", 2)[0], "=") {
		k, v, _ := strings.Cut(rest, " ")
		into[k] = strings.TrimSpace(v)
		return nil
	}
	for rest != "" {
		m := envPair.FindStringSubmatch(rest)
		if m == nil {
			return fmt.Errorf("ENV: cannot read %q", rest)
		}
		into[m[1]] = unquote(m[2])
		rest = rest[len(m[0]):]
	}
	return nil
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return strings.ReplaceAll(s[1:len(s)-1], `\"`, `"`)
	}
	return s
}

// Makefile is what the tests need of the Makefile: its simple variables
// and the recipes of its targets.
type Makefile struct {
	Vars    map[string]string
	Recipes map[string][]string // target → recipe lines, trimmed
}

var (
	makeVar    = regexp.MustCompile(`^([A-Z_]+)\s*(?::=|\?=|=)\s*(.*)$`)
	makeTarget = regexp.MustCompile(`^([A-Za-z0-9_.$()/-]+):(?:[^=]|$)`)
)

// ParseMakefile reads path.
func ParseMakefile(path string) (*Makefile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &Makefile{Vars: map[string]string{}, Recipes: map[string][]string{}}
	target := ""
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "\t") {
			if target != "" {
				m.Recipes[target] = append(m.Recipes[target], strings.TrimSpace(line))
			}
			continue
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		target = ""
		if v := makeVar.FindStringSubmatch(line); v != nil {
			m.Vars[v[1]] = strings.TrimSpace(v[2])
		} else if t := makeTarget.FindStringSubmatch(line); t != nil {
			target = t[1]
		}
	}
	if len(m.Recipes["build"]) == 0 {
		return nil, fmt.Errorf("%s: no recipe for build", path)
	}
	return m, nil
}

// Expand replaces $(NAME) with the Makefile's variables, once per level.
func (m *Makefile) Expand(s string) string {
	for range 5 {
		next := regexp.MustCompile(`\$\(([A-Z_]+)\)`).ReplaceAllStringFunc(s, func(ref string) string {
			name := ref[2 : len(ref)-1]
			if v, ok := m.Vars[name]; ok {
				return v
			}
			return ref
		})
		if next == s {
			break
		}
		s = next
	}
	return s
}

// GoBuild is one `go build` of a binary: the directory it runs in
// (relative to the repository; "." for the root), its flags, the output
// file's base name and the package.
type GoBuild struct {
	Dir, Flags, Output, Package string
}

var goBuild = regexp.MustCompile(`(?:cd (\S+) && )?go build ((?:[^;&()]*?\s)?)-o (\S+) (\./\S+)`)

// GoBuilds finds the go builds in shell text.
func GoBuilds(text string) []GoBuild {
	var out []GoBuild
	for _, m := range goBuild.FindAllStringSubmatch(text, -1) {
		dir := m[1]
		if dir == "" {
			dir = "."
		}
		out = append(out, GoBuild{Dir: dir, Flags: strings.TrimSpace(m[2]), Output: baseName(m[3]), Package: strings.TrimRight(m[4], ";)")})
	}
	return out
}

func baseName(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}
