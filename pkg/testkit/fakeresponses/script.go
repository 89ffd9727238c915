package fakeresponses

import (
	"encoding/json"
	"fmt"
	"time"
)

// Rule scripts one conversation. A request belongs to the first rule whose
// Prompt is part of the conversation's first prompt; a rule with an empty
// Prompt matches every conversation that offers tools.
type Rule struct {
	// Name labels the rule in recorded requests and logs; defaults to its
	// index.
	Name string
	// Prompt must be a substring of the user's own text in the first user
	// message (not the <environment_context> or AGENTS.md blocks codex adds).
	Prompt string
	// Turns are the model's answers in order. Turn i answers the request
	// whose input already holds i items the model produced (function calls
	// and assistant messages), so a retried request gets the same answer
	// and a resumed session counts on. A request past the last turn gets a
	// 400 naming the rule.
	Turns []Turn
}

type turnKind int

const (
	kindText turnKind = iota
	kindCall
	kindError
)

// Turn is one scripted answer: build it with Text, Shell, Call or Error.
type Turn struct {
	kind  turnKind
	delay time.Duration
	text  string
	tool  string
	args  json.RawMessage
	// status and code are an Error turn's HTTP status and error code.
	status  int
	code    string
	resetIn time.Duration
	// limitedUntil: answer UsageLimit until then, the turn after.
	limitedUntil time.Time
}

// Text ends the turn with an assistant message, which codex reports as an
// agent_message item and its last message.
func Text(text string) Turn { return Turn{kind: kindText, text: text} }

// Shell asks codex to run command with its exec_command tool in its working
// directory; the next request carries the output as a
// function_call_output.
func Shell(command string) Turn {
	return Call("exec_command", map[string]any{"cmd": command, "yield_time_ms": 30000})
}

// Call asks codex to call any function tool with args marshalled as JSON.
func Call(name string, args any) Turn {
	b, err := json.Marshal(args)
	if err != nil {
		panic(fmt.Sprintf("fakeresponses: marshalling %s arguments: %v", name, err)) // a bug in the test
	}
	return Turn{kind: kindCall, tool: name, args: b}
}

// Error answers with an HTTP error whose body is the API's error object
// {"error":{"type":code,"code":code,"message":message}}. Codex retries a
// 5xx (the provider's request_max_retries, 0 in the config Home writes);
// a 429 with code "usage_limit_reached" is its usage limit.
func Error(status int, code, message string) Turn {
	return Turn{kind: kindError, status: status, code: code, text: message}
}

// UsageLimit is the 429 the API answers when the account's usage limit is
// reached, resetting in resetIn (the error's resets_in_seconds and
// resets_at).
func UsageLimit(resetIn time.Duration) Turn {
	t := Error(429, "usage_limit_reached", "The usage limit has been reached")
	t.resetIn = resetIn
	return t
}

// LimitedUntil makes the turn answer the usage-limit 429 (UsageLimit,
// resetting at until) to every request before until, and itself after: an
// account whose limit resets while the work order waits.
func (t Turn) LimitedUntil(until time.Time) Turn { t.limitedUntil = until; return t }

// After delays the answer by d, to simulate a slow model. The delay ends
// early when the client goes away.
func (t Turn) After(d time.Duration) Turn { t.delay = d; return t }

func (t Turn) String() string {
	switch t.kind {
	case kindCall:
		return fmt.Sprintf("call %s %s", t.tool, t.args)
	case kindError:
		return fmt.Sprintf("error %d %s %q", t.status, t.code, t.text)
	}
	return fmt.Sprintf("text %q", t.text)
}
