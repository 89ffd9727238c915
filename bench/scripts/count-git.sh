#!/bin/sh
# count-git.sh: how many git processes a work order of the pipeline
# benchmark's git phase starts, by command. A wrapper named git, first on
# PATH, logs each argv and runs the real git; the pipeline runs a short
# git phase (15 work orders: 4 warm-up, 1 alone, 10 measured) through it.
# The wrapper costs a shell per git: take work orders/s from a run
# without it. Usage: bench/scripts/count-git.sh [extra pipeline flags]
set -eu
real=$(command -v git)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
cat > "$tmp/bin/git" <<WRAP
#!/bin/sh
printf '%s\n' "\$*" >> "$tmp/log"
exec "$real" "\$@"
WRAP
chmod +x "$tmp/bin/git"
PATH="$tmp/bin:$PATH" go run ./bench/cmd/pipeline -out "$tmp/results.json" \
	-raw-n 100 -n 10 -inflight 4 -idle-n 10 -git-n 10 -git-inflight 4 "$@" >/dev/null 2>"$tmp/err" ||
	{ cat "$tmp/err" >&2; exit 1; }
# The origin's set-up (5 gits) is not a work order's.
total=$(($(wc -l < "$tmp/log") - 5))
echo "git processes: $total for 15 work orders, $(echo "scale=1; $total / 15" | bc) per work order"
# -c options (the hardening) and hashes dropped: one line per command.
sed -e 's/-c [^ ]* //g' -e 's/--[a-z-]*-pack=[^ ]* //' "$tmp/log" |
	awk '{print $1, ($1 == "config" || $1 == "update-ref" || $1 == "commit-tree" || $1 == "check-ref-format") ? "" : $2}' |
	sort | uniq -c | sort -rn
