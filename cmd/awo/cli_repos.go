package main

import (
	"fmt"
	"strings"

	"github.com/agentworkorders/awo/pkg/apiclient"
)

// cmdRepos is `awo repos list|add|rm`: the configured repositories.
func cmdRepos(e *cmdEnv, args []string) error {
	if len(args) == 0 {
		return usagef("repos: want list, add, set, verify or rm")
	}
	switch args[0] {
	case "list", "ls":
		return reposList(e, args[1:])
	case "add":
		return reposAdd(e, args[1:])
	case "rm", "remove", "delete":
		return reposRemove(e, args[1:])
	case "set":
		return reposSet(e, args[1:])
	case "verify":
		return reposVerify(e, args[1:])
	}
	return usagef("repos %s: want list, add, set, verify or rm", args[0])
}

func reposList(e *cmdEnv, args []string) error {
	if _, err := e.parse(e.flags("repos list"), args, 0); err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	repos, raw, err := c.Repositories(e.ctx)
	if err != nil {
		return err
	}
	return e.show(raw, func() { printRepositories(e.stdout, repos) })
}

func reposAdd(e *cmdEnv, args []string) error {
	fs := e.flags("repos add")
	noVerify := fs.Bool("no-verify", false, "configure it without checking access first")
	pos, err := e.parse(fs, args, 1)
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	r, raw, err := c.AddRepository(e.ctx, pos[0], !*noVerify)
	if err != nil {
		return err
	}
	return e.show(raw, func() { fmt.Fprintf(e.stdout, "%s\t%s\n", r.ID, r.RepositoryURL) })
}

func reposRemove(e *cmdEnv, args []string) error {
	pos, err := e.parse(e.flags("repos rm"), args, 1)
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	if err := c.DeleteRepository(e.ctx, pos[0]); err != nil {
		return err
	}
	// 204 has no body: -o json prints an object saying what was done.
	if e.json() {
		_, err = fmt.Fprintf(e.stdout, "{\"deleted\": %q}\n", pos[0])
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "deleted %s\n", pos[0])
	return err
}

// reposSet changes a repository's defaults: the sandbox and steps a work
// order for it takes when its create leaves them out.
func reposSet(e *cmdEnv, args []string) error {
	fs := e.flags("repos set")
	sandbox := fs.String("sandbox", "", "default sandbox: worktree or branch")
	steps := fs.String("steps", "", "default steps, comma-separated")
	pos, err := e.parse(fs, args, 1)
	if err != nil {
		return err
	}
	var d apiclient.RepositoryDefaults
	if *sandbox != "" {
		d.DefaultSandboxType = sandbox
	}
	if *steps != "" {
		for _, s := range strings.Split(*steps, ",") {
			d.DefaultCommands = append(d.DefaultCommands, strings.TrimSpace(s))
		}
	}
	if d.DefaultSandboxType == nil && d.DefaultCommands == nil {
		return usagef("repos set: give --sandbox, --steps or both")
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	r, raw, err := c.UpdateRepository(e.ctx, pos[0], d)
	if err != nil {
		return err
	}
	return e.show(raw, func() { printRepositories(e.stdout, []apiclient.Repository{r}) })
}

func reposVerify(e *cmdEnv, args []string) error {
	pos, err := e.parse(e.flags("repos verify"), args, 1)
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	v, raw, err := c.VerifyRepository(e.ctx, pos[0])
	if err != nil {
		return err
	}
	return e.show(raw, func() { fmt.Fprintf(e.stdout, "%s accessible: %t\n", v.RepositoryID, v.IsAccessible) })
}
