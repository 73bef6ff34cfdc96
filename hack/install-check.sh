#!/usr/bin/env bash
# make install-check: installs the .deb that make packages built for this
# machine, as a person would (apt-get install ./bottle_*.deb), then runs
# bottle version, man bottle and each shell's completion from what the
# package put in place, with a clean environment, and removes it again; then
# runs the go install line docs/install.md gives. Fails when any fails.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "install-check: run as root: it installs a package" >&2
	exit 1
fi
t0=$SECONDS
arch=$(dpkg --print-architecture)
debs=(dist/bottle_*_"$arch".deb)
if [ "${#debs[@]}" -ne 1 ] || ! [ -f "${debs[0]}" ]; then
	echo "install-check: want one dist/bottle_*_$arch.deb (make packages PACKAGERS=deb), found: ${debs[*]}" >&2
	exit 1
fi
deb=${debs[0]}
# The shells and the pager the checks use: the man page and the completions
# must work where each of them looks, for a person with no settings of their own.
missing=()
for p in man-db bash-completion zsh fish; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if dpkg -s bottle >/dev/null 2>&1; then
	echo "install-check: a bottle package is installed already; leaving it alone" >&2
	exit 1
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb" >/dev/null
home=$(mktemp -d)
trap 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq bottle >/dev/null; rm -rf "$home"' EXIT

fails=0 passes=0
check() { # what, command...: runs the command with nothing of this shell's environment
	local what=$1 out
	shift
	if out=$(env -i PATH=/usr/bin:/bin HOME="$home" TERM=dumb LANG=C.UTF-8 "$@" 2>&1); then
		echo "install-check: ok   $what"
		passes=$((passes + 1))
	else
		echo "install-check: FAIL $what"
		echo "$out" | sed 's/^/    /'
		fails=$((fails + 1))
	fi
}
expect() { # pattern: stdin holds it
	local in
	in=$(cat)
	grep -q -- "$1" <<<"$in" || { echo "$in"; echo "(no line matches $1)"; return 1; }
}

check "the package depends on podman" sh -c "dpkg-deb -f '$deb' Depends | grep -qw podman"
check "bottle is /usr/bin/bottle" sh -c '[ "$(command -v bottle)" = /usr/bin/bottle ]'
check "bottle version" sh -c 'bottle version | tee /dev/stderr | grep -q "^podman service:"'
check "bottle version --json" sh -c 'bottle version --json | grep -q "\"api_version\""'
# The containers run the sidecar binary beside bottle: the sidecar image is named by its hash.
check "bottle's sidecar image is bottle-sidecar's" sh -c '[ -x /usr/bin/bottle-sidecar ] &&
	bottle version --json | grep -q "\"sidecar_image\": \"localhost/bottle-sidecar:$(sha256sum /usr/bin/bottle-sidecar | cut -c1-16)\""'
check "man bottle" sh -c 'MANPAGER=cat MANWIDTH=80 man bottle | grep -Eq "bottle +- +run +an +AI"'
check "man bottle-start" sh -c 'MANPAGER=cat MANWIDTH=80 man bottle-start | grep -q -- "--dry-run"'
# bash: bash-completion loads the file named after the command from its folder.
check "bash completes bottle vers" bash -c '
	source /usr/share/bash-completion/bash_completion
	__load_completion bottle || exit 1
	fn=$(complete -p bottle | sed -n "s/.*-F \([^ ]*\) .*/\1/p")
	COMP_WORDS=(bottle vers); COMP_CWORD=1; COMP_LINE="bottle vers"; COMP_POINT=${#COMP_LINE}
	"$fn" bottle vers bottle
	printf "%s\n" "${COMPREPLY[@]}" | grep -qx version'
# zsh: compinit finds _bottle in $fpath by its #compdef line; autoloaded, it
# completes (its completion-system helpers stand in as plain functions).
check "zsh completes bottle vers" zsh -f -c '
	autoload -U compinit && compinit -u -D
	[[ ${_comps[bottle]} == _bottle ]] || { print "compinit found no _bottle in: $fpath"; exit 1 }
	_describe() { print -l -- ${(P)2} }
	_files() { print files }
	compdef() { }
	words=(bottle vers)
	_bottle | grep -qx version'
# fish: its own completion engine, loading from vendor_completions.d.
check "fish completes bottle vers" sh -c 'fish -c "complete -C\"bottle vers\"" | grep -q "^version"'

# go install: the line docs/install.md gives, for this commit (HEAD), served
# as v0.0.0-installcheck.gCOMMIT.pPID by a module proxy of its own (a folder); the
# modules it needs come from Go's module cache, and its copy of this one is
# removed before and after.
goinstall() {
	# A version of this commit and this run's own: another run's (a worktree
	# beside this one, at another commit) shares the module cache.
	local v=v0.0.0-installcheck.g$(git rev-parse --short=12 HEAD).p$$ line mod
	mod=$(go env GOMODCACHE)
	line=$(sed -n 's/^    \(CGO_ENABLED=0 go install .*\)@VERSION$/\1/p' docs/install.md)
	[ -n "$line" ] || { echo "docs/install.md gives no go install line"; return 1; }
	local at=$home/proxy/github.com/bottle-sandbox/bottle/@v
	mkdir -p "$at"
	git archive --format=zip --prefix="github.com/bottle-sandbox/bottle@$v/" -o "$at/$v.zip" HEAD
	git show HEAD:go.mod > "$at/$v.mod"
	echo "{\"Version\":\"$v\"}" > "$at/$v.info"
	echo "$v" > "$at/list"
	forget() { chmod -R u+w "$mod/github.com/bottle-sandbox" 2>/dev/null; rm -rf "$mod/github.com/bottle-sandbox/bottle@$v" "$mod/cache/download/github.com/bottle-sandbox/bottle/@v/$v".*; rmdir "$mod/github.com/bottle-sandbox" 2>/dev/null || true; }
	forget
	echo "$line@$v"
	GOFLAGS= GOPROXY="file://$home/proxy" GOSUMDB=off GOBIN="$home/gobin" sh -c "$line@$v" || { forget; return 1; }
	forget
	"$home/gobin/bottle" version --json | grep -q "\"version\": \"$v\""
	# No sidecar binary beside it: the containers run bottle itself.
	"$home/gobin/bottle" version --json | grep -q "\"sidecar_image\": \"localhost/bottle-sidecar:$(sha256sum "$home/gobin/bottle" | cut -c1-16)\""
}
if out=$(goinstall 2>&1); then
	echo "install-check: ok   go install, as docs/install.md gives it"
	passes=$((passes + 1))
else
	echo "install-check: FAIL go install, as docs/install.md gives it"
	echo "$out" | sed 's/^/    /'
	fails=$((fails + 1))
fi

echo "install-check took $((SECONDS - t0)) s"
echo "install-check: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
