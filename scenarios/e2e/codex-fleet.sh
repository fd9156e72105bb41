#!/bin/sh
# N real Codex CLI processes on one CODEX_HOME (openai/codex #6498), for the scenarios
# codex-fleet-*.yaml: log in once with the device flow, wait while the scenario moves the
# server's clock (its access token is then expired by the wall clock), then run `codex exec`
# N times — all at once (`parallel`) or one after another (`sequential`). Every request goes
# to fauxauth ($FAUXAUTH_ISSUER): the refresh (CODEX_REFRESH_TOKEN_URL_OVERRIDE), the model
# API and the ChatGPT backend.
#
# usage: codex-fleet.sh parallel|sequential N
# needs: CODEX_BIN (the Codex CLI), FAUXAUTH_* (set by `fauxauth run`), FLEET_WAIT (real
# seconds between the login and the first `codex exec`; default 10).
# Prints one `instance I: exit S` line per process, then `fleet done`; exits 0 (the run is
# judged from the server's event log and this output).
set -u
mode=$1
count=$2
: "${CODEX_BIN:?set CODEX_BIN to the Codex CLI}"
home=$(mktemp -d "${TMPDIR:-/tmp}/codex-fleet.XXXXXX")
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/work"
echo 'cli_auth_credentials_store = "file"' > "$home/config.toml"
export CODEX_HOME="$home"
export CODEX_REFRESH_TOKEN_URL_OVERRIDE="$FAUXAUTH_TOKEN_URL"
export NO_PROXY=127.0.0.1,localhost
unset OPENAI_API_KEY CODEX_API_KEY

"$CODEX_BIN" login --device-auth --experimental_issuer "$FAUXAUTH_ISSUER" \
    < /dev/null > "$home/login.out" 2>&1 || { cat "$home/login.out"; echo "login failed"; exit 3; }
echo "logged in once; CODEX_HOME shared by $count processes"

run() {
    cd "$home/work" && FAUXAUTH_INSTANCE=$1 "$CODEX_BIN" exec --skip-git-repo-check \
        -c model_provider=faux -c model_providers.faux.name=faux \
        -c "model_providers.faux.base_url=\"$FAUXAUTH_ISSUER/v1\"" \
        -c model_providers.faux.wire_api=responses \
        -c model_providers.faux.requires_openai_auth=true \
        -c model_providers.faux.request_max_retries=0 \
        -c model_providers.faux.stream_max_retries=0 \
        -c model=gpt-5 -c "chatgpt_base_url=\"$FAUXAUTH_ISSUER/backend-api\"" \
        -c analytics.enabled=false "say hi" < /dev/null > "$home/out.$1" 2>&1
    echo "instance $1: exit $?"
}

sleep "${FLEET_WAIT:-10}"
i=0
if [ "$mode" = parallel ]; then
    while [ "$i" -lt "$count" ]; do run "$i" & i=$((i + 1)); done
    wait
else
    while [ "$i" -lt "$count" ]; do run "$i"; i=$((i + 1)); done
fi
i=0
while [ "$i" -lt "$count" ]; do
    echo "--- instance $i ---"; tail -n 5 "$home/out.$i"; i=$((i + 1))
done
echo "fleet done"
