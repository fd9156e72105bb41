#!/bin/sh
# OpenClaw, unmodified, against fauxauth through the impersonation proxy, for the scenarios
# openclaw-*.yaml. OpenClaw hard-codes https://auth.openai.com and https://chatgpt.com; the
# scenario's `impersonate:` gives it HTTPS_PROXY, NODE_USE_ENV_PROXY=1 and the CA in
# NODE_EXTRA_CA_CERTS, so its own device-code login, its own refresh code and its model
# calls (chatgpt.com/backend-api/codex/responses) reach fauxauth and nothing else.
#
# usage: openclaw.sh login|refresh|reuse
#   login    log in with OpenClaw's device-code login, then one model call
#   refresh  login; advance the server's clock 61 minutes (the program is on the server's
#            clock: OpenClaw sees its access token expire); a model call refreshes first
#   reuse    login; keep a copy of OpenClaw's state (its credentials); advance 61 minutes;
#            a model call refreshes (the refresh token rotates); then the model call from the
#            stale copy presents the rotated refresh token
# needs: OPENCLAW_NODE (Node >= 24.16), OPENCLAW_BIN (openclaw.mjs), FAUXAUTH_* and the proxy
# variables (set by `fauxauth run`). The clock is advanced through fauxauth's control API
# (reached through the proxy, as https://auth.openai.com/_fauxauth/...) at the point the
# script chooses, so the advance never races OpenClaw's start-up.
# Prints what each step did; exits non-zero when a step that must succeed fails.
set -u
mode=${1:-}
: "${OPENCLAW_NODE:?set OPENCLAW_NODE to a Node >= 24.16}"
: "${OPENCLAW_BIN:?set OPENCLAW_BIN to openclaw.mjs}"
PATH=$(dirname "$OPENCLAW_NODE"):$PATH
export PATH
root=$(mktemp -d "${TMPDIR:-/tmp}/openclaw-e2e.XXXXXX")
trap 'rm -rf "$root"' EXIT
export OPENCLAW_NO_RESPAWN=1 OPENCLAW_NO_AUTO_UPDATE=1
# OpenClaw tries to install its "codex" plugin with npm on every start; the proxy refuses
# registry.npmjs.org (403), which npm takes seconds to give up on. Offline, it fails at once.
export npm_config_offline=true

# openclaw HOME ARGS...: one OpenClaw command with its state under HOME.
openclaw() {
    home=$1; shift
    HOME=$home OPENCLAW_STATE_DIR=$home/.openclaw "$OPENCLAW_NODE" "$OPENCLAW_BIN" "$@"
}

login() {
    mkdir -p "$1"
    # The device-code login refuses to run without a terminal: give it one.
    HOME=$1 OPENCLAW_STATE_DIR=$1/.openclaw script -qec \
        "\"$OPENCLAW_NODE\" \"$OPENCLAW_BIN\" models auth login --provider openai --device-code" \
        /dev/null < /dev/null > "$root/login.out" 2>&1
    status=$?
    echo "login: exit $status"
    if [ "$status" -ne 0 ]; then cat "$root/login.out"; exit 3; fi
}

# ask HOME NAME: one model call; prints its answer (or its error) and its exit status.
ask() {
    openclaw "$1" infer model run --local --model openai/gpt-6-astra \
        --prompt "say hi" --json < /dev/null > "$root/$2.out" 2>&1
    status=$?
    echo "$2: exit $status"
    tail -n 20 "$root/$2.out"
    return "$status"
}

advance() {
    curl -sS --fail --cacert "$NODE_EXTRA_CA_CERTS" -X POST \
        -H 'content-type: application/json' -d "{\"by\":\"$1\"}" \
        "$FAUXAUTH_ISSUER/_fauxauth/clock/advance" > /dev/null || { echo "advance failed"; exit 4; }
    echo "advanced the server's clock by $1"
}

case "$mode" in
login)
    login "$root/a"
    ask "$root/a" call || exit 5
    ;;
refresh)
    login "$root/a"
    ask "$root/a" before || exit 5
    advance 61m
    ask "$root/a" after || exit 6
    ;;
reuse)
    login "$root/a"
    # A second copy of the credentials, as a backup restored or a copied state dir would be.
    cp -a "$root/a" "$root/stale"
    advance 61m
    ask "$root/a" first || exit 5
    # The stale copy still holds the refresh token the first call just redeemed.
    ask "$root/stale" stale && { echo "the stale copy was not refused"; exit 7; }
    ;;
*) echo "usage: openclaw.sh login|refresh|reuse"; exit 2 ;;
esac
echo "openclaw done"
