package main

import (
	"fmt"
)

// cmdRepos is `awo repos list|add|rm`: the configured repositories.
func cmdRepos(e *cmdEnv, args []string) error {
	if len(args) == 0 {
		return usagef("repos: want list, add or rm")
	}
	switch args[0] {
	case "list", "ls":
		return reposList(e, args[1:])
	case "add":
		return reposAdd(e, args[1:])
	case "rm", "remove", "delete":
		return reposRemove(e, args[1:])
	}
	return usagef("repos %s: want list, add or rm", args[0])
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
