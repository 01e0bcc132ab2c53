#!/usr/bin/env bash
# Debian packages for the setup scripts; sourced by scripts/setup.sh and
# scripts/ynl.sh, which define say() first. Sets SUDO (empty as root) and
# defines apt_update (once, until apt_updated is emptied) and
# need_pkgs PKG... (installs those not installed yet). apt-get's output
# goes to stderr or nowhere: ynl.sh answers on stdout.

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

apt_updated=""
apt_update() {
	[ -n "$apt_updated" ] && return 0
	say "apt-get update"
	$SUDO apt-get update -qq >&2 || say "apt-get update reported errors (continuing)"
	apt_updated=1
}

need_pkgs() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	apt_update
	say "apt-get install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
