package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"

	"github.com/agentworkorders/awo/pkg/apiclient"
)

// Exit codes of the client commands.
const (
	exitOK    = 0
	exitError = 1 // the API refused, or it could not be reached
	exitUsage = 3 // the command line itself is wrong
)

// clientCommands are the subcommands that talk to a gateway over HTTP.
// They never load the server's configuration: a client needs no server
// environment, only AWO_URL and AWO_API_TOKEN.
var clientCommands = map[string]struct {
	run     func(*cmdEnv, []string) error
	summary string
}{
	"create": {cmdCreate, "create --repo URL --request TEXT [--steps a,b] [--sandbox worktree|branch] [--issue N] [--agent claude|codex] [--max-cost-usd USD] [--idempotency-key K] [--watch]"},
	"list":   {cmdList, "list [--status S] [--repo URL] [--limit N]"},
	"show":   {cmdShow, "show ID"},
	"steps":  {cmdSteps, "steps ID"},
	"logs":   {cmdLogs, "logs ID [-f] [--level L] [--step S] [--limit N]"},
	"cancel": {cmdCancel, "cancel ID [--reason R]"},
	"retry":  {cmdRetry, "retry ID [--reason R]"},
	"prompt": {cmdPrompt, "prompt ID TEXT"},
	"repos":  {cmdRepos, "repos list | add URL [--no-verify] | set ID [--sandbox S] [--steps a,b] | verify ID | rm ID"},
	"health": {cmdHealth, "health"},
	"watch":  {cmdWatch, "watch ID   (exit 0 completed, 1 failed, 2 cancelled)"},
}

// serverCommands are the subcommands app.MainCommands runs (with the
// server's configuration); no argument at all starts the server too.
var serverCommands = map[string]bool{"serve": true, "rebuild-read-model": true}

// isClientCommand tells main whether args are for runCLI: anything but
// the server's commands, so an unknown command gets the full usage and
// exit 3.
func isClientCommand(args []string) bool {
	return len(args) > 0 && !serverCommands[args[0]]
}

// usageError is a mistake on the command line: exit 3 with the usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// cmdEnv is what a command runs with: the connection settings and output
// format from its flags, and where to write.
type cmdEnv struct {
	ctx    context.Context
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer

	url, token, output string
	// global holds --url, --token and -o given before the command; a
	// command's own flags win over them.
	global globalFlags
}

// globalFlags are the shared flags when given before the command
// (`awo --url U -o json list`).
type globalFlags struct {
	url, token, output string
	set                map[string]bool
}

// parseGlobals takes the shared flags off the front of args and returns
// them with the rest: the command and its arguments.
func parseGlobals(args []string) (globalFlags, []string, error) {
	g := globalFlags{set: map[string]bool{}}
	fs := flag.NewFlagSet("awo", flag.ContinueOnError)
	// Errors are printed by runCLI with the usage; flag's own usage would
	// list defaults, and must never risk showing a token.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&g.url, "url", "", "")
	fs.StringVar(&g.token, "token", "", "")
	fs.StringVar(&g.output, "o", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return g, nil, err
		}
		return g, nil, usageError{err.Error()}
	}
	fs.Visit(func(f *flag.Flag) { g.set[f.Name] = true })
	if g.set["o"] && g.output != "table" && g.output != "json" {
		return g, nil, usagef("-o %q: want table or json", g.output)
	}
	return g, fs.Args(), nil
}

// any reports whether a shared flag came before the command.
func (g globalFlags) any() bool { return len(g.set) > 0 }

// applyGlobals fills in the shared flags the command's own flag set did
// not get from the ones given before the command.
func (e *cmdEnv) applyGlobals(fs *flag.FlagSet) {
	own := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { own[f.Name] = true })
	if e.global.set["url"] && !own["url"] {
		e.url = e.global.url
	}
	if e.global.set["token"] && !own["token"] {
		e.token = e.global.token
	}
	if e.global.set["o"] && !own["o"] {
		e.output = e.global.output
	}
}

// client builds the API client from the flags, falling back to AWO_URL
// and AWO_API_TOKEN.
func (e *cmdEnv) client() (*apiclient.Client, error) {
	u, tok := e.url, e.token
	if u == "" {
		u = e.getenv("AWO_URL")
	}
	if tok == "" {
		tok = e.getenv("AWO_API_TOKEN")
	}
	c, err := apiclient.New(u, tok)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return c, nil
}

// json reports whether -o json was asked for.
func (e *cmdEnv) json() bool { return e.output == "json" }

// printJSON writes the API's JSON as received, indented for reading.
func (e *cmdEnv) printJSON(raw json.RawMessage) error {
	var buf bytes.Buffer
	if len(raw) == 0 {
		raw = json.RawMessage("null")
	}
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		buf.Reset()
		buf.Write(raw)
	}
	buf.WriteByte('\n')
	_, err := e.stdout.Write(buf.Bytes())
	return err
}

// flags returns a flag set for one command with the shared flags: --url,
// --token, -o. The token has no default shown, so usage never prints it.
func (e *cmdEnv) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("awo "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&e.url, "url", "", "gateway URL (default $AWO_URL, else "+apiclient.DefaultURL+")")
	fs.StringVar(&e.token, "token", "", "API bearer token (default $AWO_API_TOKEN)")
	fs.StringVar(&e.output, "o", "table", "output: table or json (the API's JSON as is)")
	return fs
}

// parse parses args with fs, allowing flags after positional arguments
// (`awo show ID -o json`), and checks the positional count and -o.
func (e *cmdEnv) parse(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	e.applyGlobals(fs)
	if e.output != "table" && e.output != "json" {
		return nil, usagef("-o %q: want table or json", e.output)
	}
	if len(pos) != positional {
		return nil, usagef("want %d argument(s), got %d", positional, len(pos))
	}
	return pos, nil
}

// runCLI runs one client command and returns its exit code. Errors go to
// stderr: the API's detail for a refusal, the usage for a mistake.
func runCLI(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	global, args, err := parseGlobals(args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "awo: %v\n", err)
		printUsage(stderr)
		return exitUsage
	}
	if len(args) == 0 && global.any() {
		fmt.Fprintln(stderr, "awo: a command is needed after the flags, e.g. awo --url URL list")
		printUsage(stderr)
		return exitUsage
	}
	if len(args) == 0 || args[0] == "help" {
		printUsage(stdout)
		return exitOK
	}
	if serverCommands[args[0]] {
		fmt.Fprintf(stderr, "awo %s: --url, --token and -o are for the client commands; the server reads its configuration from the environment\n", args[0])
		return exitUsage
	}
	c, ok := clientCommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "awo: unknown command %q\n", args[0])
		printUsage(stderr)
		return exitUsage
	}
	e := &cmdEnv{ctx: ctx, getenv: getenv, stdout: stdout, stderr: stderr, global: global}
	err = c.run(e, args[1:])
	var ue usageError
	var ec exitCode
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ec):
		if ec.msg != "" {
			fmt.Fprintf(stderr, "awo %s: %s\n", args[0], ec.msg)
		}
		return ec.code
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "awo %s: %v\nusage: awo %s\n", args[0], err, c.summary)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "awo %s: %v\n", args[0], err)
		return exitError
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage:\n  awo [serve]               run every service (the all-in-one)\n  awo rebuild-read-model    replay the event stream into the read store\n"+
		"  awo [--url URL] [--token T] [-o table|json] <command> …   a client command:")
	names := make([]string, 0, len(clientCommands))
	for n := range clientCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  awo %s\n", clientCommands[n].summary)
	}
	fmt.Fprintln(w, "client commands talk to $AWO_URL (default "+apiclient.DefaultURL+") with $AWO_API_TOKEN;\n"+
		"--url, --token and -o go before the command or among its flags. Exit: 0 ok, 1 API or connection error, 3 usage error.")
}
