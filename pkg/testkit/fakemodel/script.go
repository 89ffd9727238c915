package fakemodel

import (
	"encoding/json"
	"fmt"
	"time"
)

// Rule scripts one conversation. A request belongs to the first rule whose
// non-empty match fields all hold; a rule with none matches every
// conversation the CLI has with tools.
type Rule struct {
	// Name labels the rule in recorded requests and logs; defaults to its
	// index.
	Name string
	// Prompt must be a substring of the prompt: the user's own text in the
	// first user message, without the <system-reminder> blocks the CLI adds
	// (git status, attribution), so a branch name or commit message cannot
	// make a rule match by accident.
	Prompt string
	// System must be a substring of the system prompt.
	System string
	// Turns are the model's answers in order. Turn i answers the request
	// that already holds i assistant messages, so a request retried by the
	// CLI gets the same answer again and side calls never move the script
	// forward. A request past the last turn gets a 400 naming the rule.
	Turns []Turn
}

type turnKind int

const (
	kindText turnKind = iota
	kindTool
	kindError
)

// Turn is one scripted answer. Build it with Text, Bash, Write, Tool or
// Error.
type Turn struct {
	kind    turnKind
	delay   time.Duration
	text    string
	tool    string
	input   json.RawMessage
	status  int
	noRetry bool
}

// Text ends the conversation (stop_reason end_turn) with text, which the CLI
// reports as its result.
func Text(text string) Turn { return Turn{kind: kindText, text: text} }

// Bash asks the CLI to run command with its Bash tool in its working
// directory; the next request carries the output as a tool_result.
func Bash(command, description string) Turn {
	return Tool("Bash", map[string]string{"command": command, "description": description})
}

// Write asks the CLI to create or overwrite a file with its Write tool. A
// relative path is resolved against the CLI's working directory (measured
// with 2.1.328; overwriting an existing file the conversation has not Read
// first is refused by the CLI).
func Write(path, content string) Turn {
	return Tool("Write", map[string]string{"file_path": path, "content": content})
}

// Tool asks the CLI to call any tool with input marshalled as JSON.
func Tool(name string, input any) Turn {
	b, err := json.Marshal(input)
	if err != nil {
		panic(fmt.Sprintf("fakemodel: marshalling %s input: %v", name, err)) // a bug in the test
	}
	return Turn{kind: kindTool, tool: name, input: b}
}

// Error answers with an API error. The CLI gives up at once on a 4xx
// (exit 1, is_error true) and retries a 5xx for minutes unless
// WithoutRetry is used. Avoid messages containing "prompt is too long": the
// CLI treats those as a context overflow and replaces the message.
func Error(status int, message string) Turn {
	return Turn{kind: kindError, status: status, text: message}
}

// After delays the answer by d, to simulate a slow model. The delay ends
// early when the client goes away.
func (t Turn) After(d time.Duration) Turn { t.delay = d; return t }

// WithoutRetry adds the x-should-retry: false header to an Error turn,
// which makes the CLI fail on a 5xx instead of retrying.
func (t Turn) WithoutRetry() Turn { t.noRetry = true; return t }

func (t Turn) String() string {
	switch t.kind {
	case kindTool:
		return fmt.Sprintf("tool %s %s", t.tool, t.input)
	case kindError:
		return fmt.Sprintf("error %d %q", t.status, t.text)
	}
	return fmt.Sprintf("text %q", t.text)
}
