#!/bin/sh
# The Codex CLI as one fleet copy, for the scenarios codex-fleet-*.yaml: `codex.sh login` logs
# in with the device flow (the scenario's setup), `codex.sh exec` runs `codex exec` once (each
# copy). Every copy's CODEX_HOME is its FAUXAUTH_HOME (shared by the fleet), and every request
# goes to fauxauth ($FAUXAUTH_ISSUER): the refresh (CODEX_REFRESH_TOKEN_URL_OVERRIDE), the
# model API and the ChatGPT backend.
#
# needs: CODEX_BIN (the Codex CLI; the e2e test sets it), FAUXAUTH_* (set by `fauxauth run`).
set -eu
: "${CODEX_BIN:?set CODEX_BIN to the Codex CLI}"
export CODEX_HOME="$FAUXAUTH_HOME"
export CODEX_REFRESH_TOKEN_URL_OVERRIDE="$FAUXAUTH_TOKEN_URL"
export NO_PROXY=127.0.0.1,localhost
unset OPENAI_API_KEY CODEX_API_KEY
case "$1" in
login)
    echo 'cli_auth_credentials_store = "file"' > "$CODEX_HOME/config.toml"
    exec "$CODEX_BIN" login --device-auth --experimental_issuer "$FAUXAUTH_ISSUER" < /dev/null
    ;;
exec)
    mkdir -p "$CODEX_HOME/work" && cd "$CODEX_HOME/work"
    exec "$CODEX_BIN" exec --skip-git-repo-check \
        -c model_provider=faux -c model_providers.faux.name=faux \
        -c "model_providers.faux.base_url=\"$FAUXAUTH_ISSUER/v1\"" \
        -c model_providers.faux.wire_api=responses \
        -c model_providers.faux.requires_openai_auth=true \
        -c model_providers.faux.request_max_retries=0 \
        -c model_providers.faux.stream_max_retries=0 \
        -c model=gpt-5 -c "chatgpt_base_url=\"$FAUXAUTH_ISSUER/backend-api\"" \
        -c analytics.enabled=false "say hi" < /dev/null
    ;;
*)
    echo "usage: codex.sh login|exec" >&2
    exit 2
    ;;
esac
