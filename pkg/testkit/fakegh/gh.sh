# Fake gh (GitHub CLI) for tests. Install prepends "#!/bin/sh" and
# STATE='<dir>'; everything it knows and remembers lives in $STATE:
#   calls.jsonl      one JSON line per invocation (args, stdin, env)
#   version, default-branch, repos, unauthenticated, pr-create-error,
#   pr-create-delay, api-error: options
#   issues/<n>.json  answers of `gh issue view <n> --json ...`
#   prs/<n>/         pull requests opened by `gh pr create`
#   prs/<n>/comments/<k>/  comments added by `gh pr comment`; pr-comment-error
#                    makes it fail
#   pr-view-error    makes `gh pr view` fail
#   issue-comments/<owner>/<name>/<n>/<k>/  comments added by `gh api
#                    repos/<owner>/<name>/issues/<n>/comments -f body=...`
#                    (on a pull request the fake opened: its prs/<n>/comments,
#                    as GitHub's conversation comments are issue comments)
# It never touches the network. Output formats and messages follow gh 2.x.

set -u
LC_ALL=C
export LC_ALL

# json_str reads stdin, which must end with one sentinel "x" appended by the
# caller (so trailing newlines survive), and prints it as a JSON string.
json_str() {
	awk '
	BEGIN {
		for (i = 1; i < 32; i++) ctl[sprintf("%c", i)] = sprintf("\\u%04x", i)
		ctl["\t"] = "\\t"; ctl["\r"] = "\\r"
		out = ""
	}
	{
		if (NR > 1) out = out "\\n"
		n = length($0)
		for (i = 1; i <= n; i++) {
			c = substr($0, i, 1)
			if (c == "\\") out = out "\\\\"
			else if (c == "\"") out = out "\\\""
			else if (c in ctl) out = out ctl[c]
			else out = out c
		}
	}
	END { printf "\"%s\"", substr(out, 1, length(out) - 1) }'
}

quote() { printf '%sx' "$1" | json_str; }

fail() {
	printf '%s\n' "$*" >&2
	exit 1
}

TMP=$(mktemp -d "$STATE/tmp.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

# Read the body from stdin when asked to, before logging the call.
has_stdin=0
prev=""
for a in "$@"; do
	case "$prev=$a" in
	--body-file=-|-F=-) has_stdin=1 ;;
	esac
	case "$a" in
	--body-file=-) has_stdin=1 ;;
	esac
	prev=$a
done
if [ "$has_stdin" = 1 ]; then
	{
		cat
		printf x
	} >"$TMP/stdin"
fi

log_call() {
	line='{"args":['
	sep=""
	for a in "$@"; do
		line="$line$sep$(quote "$a")"
		sep=","
	done
	line="$line]"
	if [ "$has_stdin" = 1 ]; then
		line="$line,\"stdin\":$(json_str <"$TMP/stdin")"
	fi
	line="$line,\"env\":{"
	sep=""
	for v in GH_TOKEN GITHUB_TOKEN GH_PROMPT_DISABLED NO_COLOR GH_REPO GH_HOST; do
		if eval "[ \"\${$v+set}\" = set ]"; then
			eval "val=\$$v"
			line="$line$sep\"$v\":$(quote "$val")"
			sep=","
		fi
	done
	printf '%s}}\n' "$line" >"$TMP/line"
	# One write per line (cat copies in large blocks), so concurrent
	# invocations do not interleave their lines.
	cat "$TMP/line" >>"$STATE/calls.jsonl"
}
log_call "$@"

opt() { cat "$STATE/$1" 2>/dev/null; }

# Flags are accepted as "--flag value" and "--flag=value", as gh does.
repo=${GH_REPO-}
head=""
base=""
title=""
title_set=0
body_set=0
fields=""
pos=""
parse_flags() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--*=* | -?=*)
			name=${1%%=*}
			value=${1#*=}
			;;
		--repo | -R | --head | -H | --base | -B | --title | -t | --body | -b | --body-file | -F | --json | --state | -s | --limit | -L)
			[ $# -ge 2 ] || fail "flag needs an argument: $1"
			name=$1
			value=$2
			shift
			;;
		-*) fail "unknown flag: $1" ;;
		*)
			pos=$1
			shift
			continue
			;;
		esac
		case "$name" in
		--repo | -R) repo=$value ;;
		--head | -H) head=$value ;;
		--base | -B) base=$value ;;
		--title | -t)
			title=$value
			title_set=1
			;;
		--body | -b)
			body_set=1
			printf "%sx" "$value" >"$TMP/body"
			;;
		--body-file | -F)
			body_set=1
			if [ "$value" = - ]; then
				cp "$TMP/stdin" "$TMP/body"
			else
				{ cat "$value" || fail "open $value: no such file or directory"; printf x; } >"$TMP/body"
			fi
			;;
		--json) fields=$value ;;
		--state | -s | --limit | -L) ;;
		*) fail "unknown flag: $name" ;;
		esac
		shift
	done
}

need_repo() {
	[ -n "$repo" ] || fail "fake gh: --repo is required (the fake has no git repository to infer it from)"
	if [ -f "$STATE/repos" ] && ! grep -qxF "$repo" "$STATE/repos"; then
		fail "GraphQL: Could not resolve to a Repository with the name '$repo'. (repository)"
	fi
}

# GitHub down or refusing the token: every API call fails alike.
case "${1-}" in
--version | version | auth) ;;
*)
	if [ -f "$STATE/api-error" ]; then
		cat "$STATE/api-error" >&2
		exit 1
	fi
	;;
esac

# pr_field prints field $2 of the pull request in directory $1 as JSON.
pr_field() {
	case "$2" in
	url) quote "$(cat "$1/url")" ;;
	number) cat "$1/number" ;;
	headRefName) quote "$(cat "$1/head")" ;;
	baseRefName) quote "$(cat "$1/base")" ;;
	title) cat "$1/title.json" ;;
	state) printf '"OPEN"' ;;
	*) fail "Unknown JSON field: \"$2\" (the fake knows url, number, headRefName, baseRefName, title, state, and comments for pr view)" ;;
	esac
}

# pr_comments prints the comments of the pull request in directory $1 as
# gh's JSON array, oldest first (as `gh pr comment` numbered them).
pr_comments() {
	out=""
	for k in $(ls "$1/comments" 2>/dev/null | sort -n); do
		# A comment still being written by a running `gh pr comment` is
		# not there yet.
		[ -f "$1/comments/$k/body.json" ] || continue
		out="$out${out:+,}{\"author\":{\"login\":\"fake-user\"},\"body\":$(cat "$1/comments/$k/body.json"),\"url\":$(quote "$(cat "$1/url")#issuecomment-$((1000 + k))")}"
	done
	printf '[%s]' "$out"
}

case "${1-}" in
--version | version)
	v=$(opt version)
	printf 'gh version %s (2025-01-01)\nhttps://github.com/cli/cli/releases/tag/v%s\n' "$v" "$v"
	;;

auth)
	[ "${2-}" = status ] || fail "unknown command \"${2-}\" for \"gh auth\""
	if [ -e "$STATE/unauthenticated" ]; then
		fail "You are not logged into any GitHub hosts. To log in, run: gh auth login"
	fi
	how=keyring
	if [ -n "${GH_TOKEN-}" ]; then how=GH_TOKEN; elif [ -n "${GITHUB_TOKEN-}" ]; then how=GITHUB_TOKEN; fi
	printf 'github.com\n  ✓ Logged in to github.com account fake-user (%s)\n  - Active account: true\n  - Git operations protocol: https\n' "$how"
	;;

repo)
	[ "${2-}" = view ] || fail "unknown command \"${2-}\" for \"gh repo\""
	shift 2
	parse_flags "$@"
	[ -n "$pos" ] && repo=$pos
	need_repo
	[ -n "$fields" ] || fields=defaultBranchRef,name,owner,url
	owner=${repo%/*}
	owner=${owner##*/}
	name=${repo##*/}
	obj=""
	# gh prints the fields asked for, in key order.
	for f in $(printf '%s' "$fields" | tr ',' '\n' | sort -u); do
		case "$f" in
		name) val=$(quote "$name") ;;
		nameWithOwner) val=$(quote "$owner/$name") ;;
		owner) val="{\"id\":\"MDQ6VXNlcjE=\",\"login\":$(quote "$owner")}" ;;
		defaultBranchRef) val="{\"name\":$(quote "$(opt default-branch)")}" ;;
		url) val=$(quote "https://github.com/$repo") ;;
		*) fail "Unknown JSON field: \"$f\" (the fake knows name, nameWithOwner, owner, defaultBranchRef, url)" ;;
		esac
		obj="$obj${obj:+,}\"$f\":$val"
	done
	printf '{%s}\n' "$obj"
	;;

issue)
	[ "${2-}" = view ] || fail "unknown command \"${2-}\" for \"gh issue\""
	shift 2
	parse_flags "$@"
	need_repo
	n=${pos#\#}
	case "$n" in
	'' | *[!0-9]*) fail "invalid issue format: \"$pos\"" ;;
	esac
	[ -f "$STATE/issues/$n.json" ] ||
		fail "GraphQL: Could not resolve to an issue or pull request with the number of $n. (repository.issue)"
	cat "$STATE/issues/$n.json"
	;;

pr)
	sub=${2-}
	if [ $# -ge 2 ]; then shift 2; else shift $#; fi
	parse_flags "$@"
	if [ "$sub" = comment ] || [ "$sub" = view ]; then
		# gh takes the pull request as a URL, which names its repository.
		case "$pos" in
		https://github.com/*/*/pull/*)
			rest=${pos#https://github.com/}
			repo=${rest%/pull/*}
			pos=${rest##*/pull/}
			;;
		esac
	fi
	need_repo
	case "$sub" in
	comment)
		[ "$body_set" = 1 ] || fail 'must provide `--body` or `--body-file` when not running interactively'
		n=${pos#\#}
		case "$n" in
		'' | *[!0-9]*) fail "invalid pull request format: \"$pos\"" ;;
		esac
		d="$STATE/prs/$n"
		if ! [ -f "$d/done" ] || [ "$(cat "$d/repo")" != "$repo" ]; then
			fail "GraphQL: Could not resolve to a PullRequest with the number of $n. (repository.pullRequest)"
		fi
		if [ -f "$STATE/pr-comment-error" ]; then
			cat "$STATE/pr-comment-error" >&2
			exit 1
		fi
		mkdir -p "$d/comments"
		k=1
		while ! mkdir "$d/comments/$k" 2>/dev/null; do k=$((k + 1)); done
		json_str <"$TMP/body" >"$TMP/body.json"
		mv "$TMP/body.json" "$d/comments/$k/body.json"
		printf 'https://github.com/%s/pull/%s#issuecomment-%s\n' "$repo" "$n" "$((1000 + k))"
		;;
	view)
		n=${pos#\#}
		case "$n" in
		'' | *[!0-9]*) fail "invalid pull request format: \"$pos\" (the fake takes a number or a URL)" ;;
		esac
		d="$STATE/prs/$n"
		if ! [ -f "$d/done" ] || [ "$(cat "$d/repo")" != "$repo" ]; then
			fail "GraphQL: Could not resolve to a PullRequest with the number of $n. (repository.pullRequest)"
		fi
		if [ -f "$STATE/pr-view-error" ]; then
			cat "$STATE/pr-view-error" >&2
			exit 1
		fi
		[ -n "$fields" ] || fail "fake gh: pr view needs --json (the fake has no human-readable view)"
		obj=""
		# gh prints the fields asked for, in key order.
		for f in $(printf '%s' "$fields" | tr ',' '\n' | sort -u); do
			case "$f" in
			comments) val=$(pr_comments "$d") ;;
			*) val=$(pr_field "$d" "$f") || exit 1 ;;
			esac
			obj="$obj${obj:+,}\"$f\":$val"
		done
		printf '{%s}\n' "$obj"
		;;
	list)
		out=""
		for d in "$STATE"/prs/*/; do
			[ -f "$d/done" ] || continue
			[ "$(cat "$d/repo")" = "$repo" ] || continue
			if [ -n "$head" ] && [ "$(cat "$d/head")" != "$head" ]; then continue; fi
			if [ -z "$fields" ]; then
				printf '%s\t%s\t%s\tOPEN\n' "$(cat "$d/number")" "$(cat "$d/head")" "$(cat "$d/url")"
				continue
			fi
			obj=""
			for f in $(printf '%s' "$fields" | tr ',' ' '); do
				val=$(pr_field "$d" "$f") || exit 1
				obj="$obj${obj:+,}\"$f\":$val"
			done
			out="$out${out:+,}{$obj}"
		done
		[ -n "$fields" ] && printf '[%s]\n' "$out"
		;;
	create)
		[ "$title_set" = 1 ] && [ "$body_set" = 1 ] ||
			fail 'must provide `--title` and `--body` (or `--fill` or `fill-first` or `--fillverbose`) when not running interactively'
		[ -n "$head" ] || fail "fake gh: --head is required (the fake has no current branch)"
		[ -n "$base" ] || base=$(opt default-branch)
		for d in "$STATE"/prs/*/; do
			[ -f "$d/done" ] || continue
			if [ "$(cat "$d/repo")" = "$repo" ] && [ "$(cat "$d/head")" = "$head" ] && [ "$(cat "$d/base")" = "$base" ]; then
				fail "a pull request for branch \"$head\" into branch \"$base\" already exists:
$(cat "$d/url")"
			fi
		done
		if [ -f "$STATE/pr-create-error" ]; then
			cat "$STATE/pr-create-error" >&2
			exit 1
		fi
		# mkdir is atomic: concurrent creates claim distinct numbers.
		n=1
		while ! mkdir "$STATE/prs/$n" 2>/dev/null; do n=$((n + 1)); done
		d="$STATE/prs/$n"
		url="https://github.com/$repo/pull/$n"
		printf '%s' "$repo" >"$d/repo"
		printf '%s' "$head" >"$d/head"
		printf '%s' "$base" >"$d/base"
		printf '%s' "$n" >"$d/number"
		printf '%s' "$url" >"$d/url"
		quote "$title" >"$d/title.json"
		json_str <"$TMP/body" >"$d/body.json"
		: >"$d/done"
		if [ -f "$STATE/pr-create-delay" ]; then
			sleep "$(opt pr-create-delay)"
		fi
		printf '\nCreating pull request for %s into %s in %s\n\n' "$head" "$base" "$repo" >&2
		printf '%s\n' "$url"
		;;
	*) fail "unknown command \"$sub\" for \"gh pr\"" ;;
	esac
	;;

api)
	shift
	method=""
	path=""
	body=""
	body_given=0
	while [ $# -gt 0 ]; do
		case "$1" in
		--method=* | -X=*) method=${1#*=} ;;
		--method | -X)
			[ $# -ge 2 ] || fail "flag needs an argument: $1"
			method=$2
			shift
			;;
		--paginate) ;;
		--hostname=github.com) ;;
		--hostname=*) fail "fake gh: only github.com is known (--hostname ${1#*=})" ;;
		-f | --raw-field | -F | --field)
			[ $# -ge 2 ] || fail "flag needs an argument: $1"
			case "$2" in
			body=*)
				body=${2#body=}
				body_given=1
				;;
			*) fail "fake gh: api takes only the field body (got $2)" ;;
			esac
			shift
			;;
		-*) fail "unknown flag: $1" ;;
		*) path=$1 ;;
		esac
		shift
	done
	[ -n "$method" ] || { [ "$body_given" = 1 ] && method=POST; } || method=GET
	# The only endpoint awo calls: an issue's (or pull request's) comments.
	rest=${path#/}
	case "$rest" in
	repos/*/*/issues/*/comments) ;;
	*) fail "fake gh: api knows only repos/OWNER/REPO/issues/N/comments (got $path)" ;;
	esac
	rest=${rest#repos/}
	repo=${rest%%/issues/*}
	n=${rest#*/issues/}
	n=${n%/comments}
	case "$repo" in
	*/*/* | /* | */) fail "fake gh: bad repository in $path" ;;
	esac
	case "$n" in
	'' | *[!0-9]*) fail "fake gh: bad issue number in $path" ;;
	esac
	if [ -f "$STATE/repos" ] && ! grep -qxF "$repo" "$STATE/repos"; then
		printf '{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}'
		fail "gh: Not Found (HTTP 404)"
	fi
	d="$STATE/issue-comments/$repo/$n"
	kind=issues
	if [ -f "$STATE/prs/$n/done" ] && [ "$(cat "$STATE/prs/$n/repo")" = "$repo" ]; then
		d="$STATE/prs/$n"
		kind=pull
	fi
	# comment_json prints comment $1 of $d as the REST API does.
	comment_json() {
		printf '{"id":%s,"user":{"login":"fake-user"},"body":%s,"html_url":%s}' "$((1000 + $1))" \
			"$(cat "$d/comments/$1/body.json")" "$(quote "https://github.com/$repo/$kind/$n#issuecomment-$((1000 + $1))")"
	}
	case "$method" in
	GET)
		out=""
		for k in $(ls "$d/comments" 2>/dev/null | sort -n); do
			[ -f "$d/comments/$k/body.json" ] || continue
			out="$out${out:+,}$(comment_json "$k")"
		done
		printf '[%s]\n' "$out"
		;;
	POST)
		[ "$body_given" = 1 ] || {
			printf '{"message":"Invalid request.\\n\\n\\"body\\" wasn'"'"'t supplied.","status":"422"}'
			fail "gh: Invalid request. (HTTP 422)"
		}
		if [ -f "$STATE/issue-comment-error" ]; then
			cat "$STATE/issue-comment-error" >&2
			exit 1
		fi
		mkdir -p "$d/comments"
		k=1
		while ! mkdir "$d/comments/$k" 2>/dev/null; do k=$((k + 1)); done
		# Written aside and moved in, so a reader never sees half of it.
		quote "$body" >"$TMP/body.json"
		mv "$TMP/body.json" "$d/comments/$k/body.json"
		comment_json "$k"
		printf '\n'
		;;
	*) fail "fake gh: api $method is not supported" ;;
	esac
	;;

*) fail "unknown command \"${1-}\" for \"gh\"" ;;
esac
