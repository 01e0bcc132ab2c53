#!/usr/bin/env bash
# The systemd units of dist/ (TAP-style output):
#   - `systemd-analyze verify` accepts each unit, with /usr/local/bin/nlpush
#     replaced by the nlpush built here and the EnvironmentFile by
#     dist/default/ (the only changes: verify wants both to exist);
#   - each unit's command line, with the example environment file's values
#     (and `--exec true`), is accepted by that nlpush: whatever it then does
#     on this host (no module: an error), it is not a usage error (exit 64);
#   - the hardening the units promise is there: a dynamic user whose only
#     capability is CAP_NET_ADMIN (the exporter: none), no new privileges,
#     a read-only system, netlink and unix sockets only (the exporter: and
#     IP, which it serves on).
#   Tests/check-units.sh [NLPUSH_BINARY]     (default .build/debug/nlpush)
set -u
cd "$(dirname "$0")/.." || exit 1
bin=$(realpath -e "${1:-.build/debug/nlpush}" 2>/dev/null) || {
	echo "check-units: ${1:-.build/debug/nlpush} missing: swift build --product nlpush first" >&2
	exit 1
}
command -v systemd-analyze >/dev/null || {
	echo "check-units: systemd-analyze missing (apt-get install systemd)" >&2
	exit 1
}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok $((pass + fail)) - $1"; }
bad() { fail=$((fail + 1)); echo "not ok $((pass + fail)) - $1"; shift; printf '#   %s\n' "$@"; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

units=(dist/systemd/*.service)
[ -e "${units[0]}" ] || { bad "units in dist/systemd" "none found"; units=(); }
for u in "${units[@]}"; do
	name=$(basename "$u")
	# the environment file the unit names, from dist/default/
	envfile=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$u")
	sedenv=()
	if [ -n "$envfile" ]; then
		if [ -f "dist/default/${envfile##*/}" ]; then
			sedenv=(-e "s|^EnvironmentFile=-\{0,1\}$envfile\$|EnvironmentFile=$PWD/dist/default/${envfile##*/}|")
		else
			bad "$name: its EnvironmentFile $envfile has an example in dist/default/" "missing: dist/default/${envfile##*/}"
		fi
	fi
	sed -e "s|/usr/local/bin/nlpush |$bin |" "${sedenv[@]}" "$u" >"$T/$name"
	if out=$(systemd-analyze verify "$T/$name" 2>&1) && [ -z "$out" ]; then
		ok "$name: systemd-analyze verify"
	else
		mapfile -t lines <<<"$out"
		bad "$name: systemd-analyze verify" "${lines[@]}"
	fi

	# the command line, as systemd would split it: $VAR into words,
	# ${VAR} one word (the respond command: "true")
	line=$(sed -n 's/^ExecStart=//p' "$u")
	read -ra argv <<<"$line"
	cmd=()
	for a in "${argv[@]}"; do
		case "$a" in
		/usr/local/bin/nlpush) cmd+=("$bin") ;;
		"\${"*"}") cmd+=(true) ;;
		'$'*)
			v=$(sed -n "s/^${a#\$}=//p" "dist/default/${envfile##*/}" 2>/dev/null)
			read -ra w <<<"$v"
			cmd+=("${w[@]}")
			;;
		*) cmd+=("$a") ;;
		esac
	done
	if [ "${cmd[0]:-}" != "$bin" ]; then
		bad "$name: ExecStart runs /usr/local/bin/nlpush" "ExecStart=$line"
		continue
	fi
	timeout 5 "${cmd[@]}" >"$T/out" 2>&1 </dev/null
	rc=$?
	if [ "$rc" -ne 64 ]; then
		ok "$name: nlpush accepts its arguments (${cmd[*]:1}: exit $rc, not 64)"
	else
		mapfile -t lines <"$T/out"
		bad "$name: nlpush accepts its arguments (${cmd[*]:1})" "${lines[@]}"
	fi

	# the exporter reads GET_STATS (open to everyone) and serves HTTP: no
	# capability, and IP sockets; the others: CAP_NET_ADMIN, netlink+unix
	if [ "${cmd[1]:-}" = exporter ]; then
		caps=(AmbientCapabilities= CapabilityBoundingSet=)
		fams="RestrictAddressFamilies=AF_NETLINK AF_UNIX AF_INET AF_INET6"
		what="no capability, read-only system, netlink+unix+IP"
	else
		caps=(AmbientCapabilities=CAP_NET_ADMIN CapabilityBoundingSet=CAP_NET_ADMIN)
		fams="RestrictAddressFamilies=AF_NETLINK AF_UNIX"
		what="CAP_NET_ADMIN only, read-only system, netlink+unix"
	fi
	missing=()
	for d in DynamicUser=yes "${caps[@]}" NoNewPrivileges=yes \
		ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
		"$fams" Restart=on-failure; do
		grep -qxF "$d" "$u" || missing+=("$d")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		ok "$name: hardened (dynamic user, $what)"
	else
		bad "$name: hardening directives missing" "${missing[@]}"
	fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
