package app

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// MainCommands is Main for a binary with subcommands: commands[""] runs
// without arguments, commands["x"] for `<name> x`. Anything else exits 2
// with a usage line. It is the gateway's and the all-in-one's main: with
// the only argument -healthcheck it probes their /readyz on the API port
// and exits (see Healthcheck).
func MainCommands(name string, commands map[string]RunFunc) {
	exitOnHealthcheck(name, GatewayReadyURL)
	run, err := pickCommand(os.Args[1:], commands)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\nusage: %s\n", name, err, usage(name, commands))
		os.Exit(2)
	}
	Main(name, run)
}

func pickCommand(args []string, commands map[string]RunFunc) (RunFunc, error) {
	key := ""
	if len(args) == 1 {
		key = args[0]
	}
	run, ok := commands[key]
	if !ok || len(args) > 1 {
		return nil, fmt.Errorf("unknown arguments %q", args)
	}
	return run, nil
}

func usage(name string, commands map[string]RunFunc) string {
	var subs []string
	for k := range commands {
		if k != "" {
			subs = append(subs, k)
		}
	}
	sort.Strings(subs)
	return fmt.Sprintf("%s [%s]", name, strings.Join(subs, " | "))
}
