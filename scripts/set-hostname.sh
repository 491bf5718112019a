#!/bin/sh
# set-hostname.sh: makes this EC2 instance's hostname its Name tag, read through instance metadata (IMDSv2).
#
# Usage: set-hostname.sh [--timeout SECONDS] [--help]
#
# Run it at boot from user data (docs/hostnames.md). It takes an IMDSv2 token, waits until the tag exists (the
# naming function writes it while the instance waits in Pending:Wait), then sets the hostname with
# `hostnamectl set-hostname NAME`, or, where there is no hostnamectl, writes /etc/hostname and runs
# `hostname NAME`. Either way it keeps one "127.0.1.1 NAME" line in /etc/hosts (replacing an older 127.0.1.1
# line) so the name resolves. Re-running it is harmless: when the hostname and /etc/hosts already say NAME it
# changes nothing.
#
# Environment:
#   NAME_TAG_KEY   the tag to read (default Name); instance metadata serves only keys made of letters, digits
#                  and + - = . , _ : @ (no spaces, no '/')
#   IMDS_ENDPOINT  the instance metadata service (default http://169.254.169.254)
#   HOSTNAME_ROOT  a directory put in front of /etc/hostname and /etc/hosts (default empty: the real /etc);
#                  for tests, which must never touch the machine's own files
#
# Exit codes: 0 the hostname is set (or already was); 1 it was not set: the tag did not appear in time,
# tags in instance metadata are disabled, the tag's value is not a host label, or a needed tool is missing;
# 2 usage error.
#
# POSIX sh (dash, busybox ash). Needs curl, or GNU wget (busybox wget cannot send the PUT that IMDSv2 needs),
# plus POSIX utilities (awk, cat, date, grep, mktemp, rm, sleep, uname). Every metadata GET carries a token: no IMDSv1 call.

set -u
LC_ALL=C
export LC_ALL

PROG=set-hostname.sh
TOKEN_TTL_SECONDS=21600
POLL_SECONDS=1
TAGS_PATH=/latest/meta-data/tags/instance

usage() {
	cat <<'EOF'
Usage: set-hostname.sh [--timeout SECONDS] [--help]

Sets the hostname to this instance's Name tag, read from instance metadata (IMDSv2), waiting for the tag
up to --timeout seconds (default 300). Needs MetadataOptions.InstanceMetadataTags: enabled in the launch
template.

Environment: NAME_TAG_KEY (default Name), IMDS_ENDPOINT (default http://169.254.169.254),
HOSTNAME_ROOT (prefix for /etc/hostname and /etc/hosts; default empty).

Example (user data):  /usr/local/sbin/set-hostname.sh --timeout 600

Exit codes: 0 hostname set or already set, 1 not set (reason on stderr), 2 usage error.
EOF
}

# die STATUS MESSAGE: one line on stderr, then exit.
die() {
	printf '%s: %s\n' "$PROG" "$2" >&2
	exit "$1"
}

usage_error() {
	die 2 "$1; see --help"
}

TIMEOUT=300
while [ "$#" -gt 0 ]; do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--timeout)
		[ "$#" -ge 2 ] || usage_error "--timeout needs a number of seconds"
		TIMEOUT=$2
		shift 2
		;;
	--timeout=*)
		TIMEOUT=${1#--timeout=}
		shift
		;;
	*) usage_error "unknown argument '$1'" ;;
	esac
done

case $TIMEOUT in
'' | *[!0-9]* | ??????????*) usage_error "--timeout must be a whole number of seconds (0 to 999999999), not '$TIMEOUT'" ;;
esac
while :; do # no leading zeros: the shell would read 010 as octal
	case $TIMEOUT in
	0?*) TIMEOUT=${TIMEOUT#0} ;;
	*) break ;;
	esac
done

KEY=${NAME_TAG_KEY:-Name}
case $KEY in
. | .. | _index | *[!A-Za-z0-9+=.,_:@-]*)
	usage_error "NAME_TAG_KEY '$KEY' cannot be read through instance metadata (letters, digits and + - = . , _ : @ only; no spaces or '/')"
	;;
esac

IMDS=${IMDS_ENDPOINT:-http://169.254.169.254}
IMDS=${IMDS%/}
ROOT=${HOSTNAME_ROOT:-}

if command -v curl >/dev/null 2>&1; then
	CLIENT=curl
elif command -v wget >/dev/null 2>&1 && wget --help 2>&1 | grep -q -e '--method'; then
	CLIENT=wget
else
	die 1 "needs curl or GNU wget to read instance metadata (busybox wget cannot send the PUT that IMDSv2 needs)"
fi

if command -v hostnamectl >/dev/null 2>&1; then
	SETTER=hostnamectl
elif command -v hostname >/dev/null 2>&1; then
	SETTER=hostname
else
	die 1 "needs hostnamectl or hostname to set the hostname"
fi

WORK=$(mktemp -d) || die 1 "cannot create a temporary directory"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 1' HUP INT TERM

# http METHOD PATH HEADER: one request with one header; sets STATUS (000 when nothing answered) and BODY.
http() {
	rm -f "$WORK/body" "$WORK/headers"
	if [ "$CLIENT" = curl ]; then
		STATUS=$(curl -s --noproxy '*' --connect-timeout 2 --max-time 5 -X "$1" -H "$3" \
			-o "$WORK/body" -w '%{http_code}' "$IMDS$2") || STATUS=000
	else
		wget -q -S --no-proxy -T 5 -t 1 --method="$1" --header="$3" -O "$WORK/body" "$IMDS$2" 2>"$WORK/headers"
		STATUS=$(awk '$1 ~ /^HTTP\// { code = $2 } END { print (code == "" ? "000" : code) }' "$WORK/headers")
	fi
	BODY=$(cat "$WORK/body" 2>/dev/null) || BODY=
}

TOKEN=
# new_token: asks for an IMDSv2 token; on failure LAST says why.
new_token() {
	http PUT /latest/api/token "X-aws-ec2-metadata-token-ttl-seconds: $TOKEN_TTL_SECONDS"
	if [ "$STATUS" = 200 ] && [ -n "$BODY" ]; then
		TOKEN=$BODY
		return 0
	fi
	TOKEN=
	LAST="no IMDSv2 token from $IMDS (HTTP $STATUS)"
	return 1
}

# get PATH: a GET with the token; a 401 (token expired) gets a new token and one more try. Sets STATUS, BODY.
get() {
	if [ -z "$TOKEN" ]; then
		new_token || return 1
	fi
	http GET "$1" "X-aws-ec2-metadata-token: $TOKEN"
	if [ "$STATUS" = 401 ]; then
		new_token || return 1
		http GET "$1" "X-aws-ec2-metadata-token: $TOKEN"
	fi
	return 0
}

# read_tag: 0 with NAME set when the tag exists; 1 not yet (LAST says why); exits when metadata tags are off.
read_tag() {
	get "$TAGS_PATH/$KEY" || return 1
	case $STATUS in
	200)
		NAME=$BODY
		return 0
		;;
	404)
		get "$TAGS_PATH/" || return 1
		if [ "$STATUS" = 404 ]; then
			die 1 "tags are not available in instance metadata ($TAGS_PATH/ answers 404): set MetadataOptions.InstanceMetadataTags: enabled in the launch template"
		fi
		LAST="tag $KEY not set yet"
		;;
	*) LAST="HTTP $STATUS for $TAGS_PATH/$KEY" ;;
	esac
	return 1
}

now() {
	date +%s
}

deadline=$(($(now) + TIMEOUT))
LAST="no answer yet"
until read_tag; do
	if [ "$(now)" -ge "$deadline" ]; then
		die 1 "tag $KEY did not appear in instance metadata within $TIMEOUT s ($LAST); is the instance's group named by the launch hook?"
	fi
	sleep "$POLL_SECONDS"
done

case $NAME in
'' | -* | *- | *[!a-z0-9-]*) valid=no ;;
*) if [ "${#NAME}" -le 63 ]; then valid=yes; else valid=no; fi ;;
esac
if [ "$valid" = no ]; then
	die 1 "tag $KEY is '$NAME', not a host label (a-z, 0-9 and '-', 1 to 63 characters, no '-' first or last); nothing changed (the naming function's HOSTNAME_SAFE=true writes names that are)"
fi

running_hostname() {
	if command -v hostname >/dev/null 2>&1; then hostname; else uname -n; fi
}

static_hostname() {
	if [ -r "$ROOT/etc/hostname" ]; then
		awk 'NR == 1 { print; exit }' "$ROOT/etc/hostname"
	fi
}

changed=no
if [ "$(running_hostname)" != "$NAME" ] || [ "$(static_hostname)" != "$NAME" ]; then
	if [ "$SETTER" = hostnamectl ]; then
		hostnamectl set-hostname "$NAME" || die 1 "hostnamectl set-hostname $NAME failed"
	else
		printf '%s\n' "$NAME" >"$ROOT/etc/hostname" || die 1 "cannot write $ROOT/etc/hostname"
		hostname "$NAME" || die 1 "hostname $NAME failed"
	fi
	changed=yes
fi

# /etc/hosts: the first 127.0.1.1 line becomes "127.0.1.1<TAB>NAME", later ones go; none: one is added at the end.
hosts=$ROOT/etc/hosts
if [ -e "$hosts" ]; then hosts_in=$hosts; else hosts_in=/dev/null; fi
current=$(cat "$hosts_in") || die 1 "cannot read $hosts"
wanted=$(awk -v name="$NAME" '
	$1 == "127.0.1.1" { if (!done) print "127.0.1.1\t" name; done = 1; next }
	{ print }
	END { if (!done) print "127.0.1.1\t" name }
' "$hosts_in") || die 1 "cannot read $hosts"
if [ "$current" != "$wanted" ]; then
	# written in place, not replaced: /etc/hosts may be a bind mount
	printf '%s\n' "$wanted" >"$hosts" || die 1 "cannot write $hosts"
	changed=yes
fi

if [ "$changed" = yes ]; then
	printf '%s: hostname set to %s\n' "$PROG" "$NAME"
else
	printf '%s: hostname is already %s; nothing changed\n' "$PROG" "$NAME"
fi
exit 0
