package gh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/agentworkorders/awo/pkg/textcut"
)

// restComment is the part of the REST API's issue comment awo reads.
type restComment struct {
	Body    string `json:"body"`
	HTMLURL string `json:"html_url"`
}

// IssueComments reads the comments of issue (or pull request) number of
// repo (OWNER/REPO or HOST/OWNER/REPO), oldest first, every page of them.
func (c *Client) IssueComments(ctx context.Context, repo string, number int) ([]Comment, error) {
	args, err := issueCommentsCall(repo, number)
	if err != nil {
		return nil, err
	}
	out, _, err := c.run(ctx, nil, append(args, "--paginate")...)
	if err != nil {
		return nil, err
	}
	// --paginate prints one JSON array per page, one after the other.
	var all []Comment
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var page []restComment
		err := dec.Decode(&page)
		if errors.Is(err, io.EOF) {
			return all, nil
		}
		if err != nil {
			return nil, fmt.Errorf("gh api printed unreadable JSON: %w (stdout: %q)", err, textcut.Bytes(string(out), 200, "…"))
		}
		for _, rc := range page {
			all = append(all, Comment{Body: rc.Body, URL: rc.HTMLURL})
		}
	}
}

// CommentIssue adds a comment to issue (or pull request) number of repo
// and returns the comment's URL ("" when GitHub gave none).
func (c *Client) CommentIssue(ctx context.Context, repo string, number int, body string) (string, error) {
	args, err := issueCommentsCall(repo, number)
	if err != nil {
		return "", err
	}
	out, _, err := c.run(ctx, nil, append(args, "--method=POST", "-f", "body="+body)...)
	if err != nil {
		return "", err
	}
	var rc restComment
	if err := json.Unmarshal(out, &rc); err != nil {
		return "", fmt.Errorf("gh api printed unreadable JSON: %w (stdout: %q)", err, textcut.Bytes(string(out), 200, "…"))
	}
	return rc.HTMLURL, nil
}

// issueCommentsCall is `gh api` of the comments endpoint of an issue, with
// --hostname for a repository on GitHub Enterprise.
func issueCommentsCall(repo string, number int) ([]string, error) {
	if err := checkRepo(repo); err != nil {
		return nil, err
	}
	if number <= 0 {
		return nil, fmt.Errorf("gh api: issue number must be positive, got %d", number)
	}
	args := []string{"api"}
	if parts := strings.Split(repo, "/"); len(parts) == 3 {
		args = append(args, "--hostname="+parts[0])
		repo = parts[1] + "/" + parts[2]
	}
	return append(args, "repos/"+repo+"/issues/"+strconv.Itoa(number)+"/comments"), nil
}

// IsGone reports whether err is GitHub's answer that the issue, pull
// request or repository is not there (or no longer takes comments): 404,
// 410 or 422. Asking again will not change it.
func IsGone(err error) bool {
	var ghErr *Error
	if !errors.As(err, &ghErr) || ghErr.TimedOut {
		return false
	}
	for _, code := range []string{"(HTTP 404)", "(HTTP 410)", "(HTTP 422)"} {
		if strings.Contains(ghErr.Stderr, code) {
			return true
		}
	}
	return false
}
