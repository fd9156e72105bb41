#!/usr/bin/env bash
# Side-by-side benchmark of the client-credentials token endpoint:
# fauxauth vs oauth2-mock-server vs panva's oidc-provider (both from npm).
#
# Usage (from anywhere inside the repo):
#   benches/peers/run.sh
#   DURATION=2 SETUPS=pinned ALGS=RS256 benches/peers/run.sh
#
# Environment (defaults in brackets):
#   SERVERS       servers to measure ["oauth2-mock-server oidc-provider fauxauth"]
#   ALGS          token signing algorithms ["RS256 ES256"]
#   SETUPS        "pinned" = server on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU
#                 (taskset); "unpinned" = no affinity ["pinned unpinned"]
#   DURATION      seconds per measurement [10]
#   WARMUP        seconds of unmeasured load after each server start [2]
#   CONNS         token-endpoint concurrencies (wrk connections) ["1 16 64"]
#   GET_CONNS     concurrency for the discovery and JWKS GETs ["16"]
#   FAUXAUTH_BIN  fauxauth binary, relative to the repo root or absolute. Unset: the
#                 script runs `cargo build --release --bin fauxauth` first and measures
#                 ${CARGO_TARGET_DIR:-target}/release/fauxauth, so a missing or stale binary
#                 is never measured. Set: that binary is measured as it is (it must exist)
#   OUT           Markdown report, relative to the repo root [target/peers-report.md]
#   OPENSSL_SECONDS  seconds per `openssl speed` run, 0 to skip [3]
#   SERVER_CPU, CLIENT_CPU  CPUs for the pinned setup [0, 1]
#
# Everything binds to and targets 127.0.0.1 only. Servers are started in the
# background, remembered by PID and stopped by PID (also on EXIT). Runtime is
# bounded: about (len(CONNS) + 2) * DURATION + WARMUP + ~5 s per server, alg
# and setup, plus 4 * 2 * OPENSSL_SECONDS.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))"
cd "$root"

SERVERS="${SERVERS:-oauth2-mock-server oidc-provider fauxauth}"
ALGS="${ALGS:-RS256 ES256}"
SETUPS="${SETUPS:-pinned unpinned}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNS="${CONNS:-1 16 64}"
GET_CONNS="${GET_CONNS:-16}"
FAUXAUTH_BIN_GIVEN="${FAUXAUTH_BIN:-}"
FAUXAUTH_BIN="${FAUXAUTH_BIN:-${CARGO_TARGET_DIR:-target}/release/fauxauth}"
OUT="${OUT:-target/peers-report.md}"
OPENSSL_SECONDS="${OPENSSL_SECONDS:-3}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"

HOST=127.0.0.1
CLIENT_AUTH="bench:bench-secret"
TOKEN_FORM="grant_type=client_credentials&scope=model.request"

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

for n in "$DURATION" "$WARMUP" "$OPENSSL_SECONDS" "$SERVER_CPU" "$CLIENT_CPU" $CONNS $GET_CONNS; do
  [[ "$n" =~ ^[0-9]+$ ]] || die "not a non-negative integer: '$n'"
done
((DURATION > 0)) || die "DURATION must be > 0"

# ---------------------------------------------------------------- cleanup ---
tmp="$(mktemp -d "${TMPDIR:-/tmp}/fauxauth-peers.XXXXXX")"
SRV_PID=""

stop_server() {
  local pid="${SRV_PID:-}"
  [[ -n "$pid" ]] || return 0
  SRV_PID=""
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  stop_server
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ tool set-up ---
apt_updated=0
apt_install() {
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
    die "missing $*; install it (Debian package(s): $*)"
  fi
  if ((apt_updated == 0)); then
    log "apt-get update"
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need_cmd() { # need_cmd COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null || apt_install "$2"
}

need_cmd wrk wrk
need_cmd curl curl
need_cmd taskset util-linux
need_cmd openssl openssl
need_cmd base64 coreutils

# Servers actually run, in report column order.
servers=()
peers=()
fauxauth_bin=""
fauxauth_provenance=""
for s in $SERVERS; do
  case "$s" in
    oauth2-mock-server | oidc-provider)
      servers+=("$s")
      peers+=("$s")
      ;;
    fauxauth)
      if [[ "$FAUXAUTH_BIN" = /* ]]; then fauxauth_bin="$FAUXAUTH_BIN"; else fauxauth_bin="$root/$FAUXAUTH_BIN"; fi
      if [[ -z "$FAUXAUTH_BIN_GIVEN" ]]; then
        # Always build: cargo does nothing when the binary is up to date, and a stale
        # binary (older than the checkout) is never measured.
        command -v cargo >/dev/null || die "cargo not found: it builds fauxauth (or set FAUXAUTH_BIN to a binary)"
        log "cargo build --release --bin fauxauth"
        cargo build --release --bin fauxauth >&2 || die "cargo build --release failed"
        fauxauth_provenance="built by this run from commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
        if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
          fauxauth_provenance+=" with uncommitted changes"
        fi
      else
        fauxauth_provenance="given by FAUXAUTH_BIN, not built by this run"
      fi
      [[ -x "$fauxauth_bin" ]] || die "fauxauth binary '$fauxauth_bin' not found or not executable"
      fauxauth_provenance="$("$fauxauth_bin" --version 2>/dev/null || echo 'fauxauth ?'), $fauxauth_provenance"
      servers+=(fauxauth)
      ;;
    *) die "unknown server '$s' (known: oauth2-mock-server oidc-provider fauxauth)" ;;
  esac
done
((${#servers[@]} > 0)) || die "no server to benchmark"

# The pinned peers' engines: oauth2-mock-server 8.2.3 wants node "^20.19 || ^22.12 || ^24"
# (oidc-provider 9.13.3 declares none and runs on it). Node 24's successors are accepted.
NODE_NEEDS="^20.19 || ^22.12 || >=24 (oauth2-mock-server 8.2.3)"
node_ok() { # node_ok VERSION (e.g. v20.20.2 or 20.19.2+dfsg-1)
  local v="${1#v}" major minor
  v="${v%%[-+~]*}"
  major="${v%%.*}"
  minor="${v#*.}"
  minor="${minor%%.*}"
  [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
  ((major == 20 && minor >= 19)) || ((major == 22 && minor >= 12)) || ((major >= 24))
}

if ((${#peers[@]} > 0)); then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    # Only a Node the pinned peers accept: Debian's nodejs is 18 on bookworm.
    candidate=""
    if command -v apt-cache >/dev/null; then
      candidate="$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ { print $2 }')"
    fi
    if [[ -n "$candidate" && "$candidate" != "(none)" ]] && node_ok "${candidate#*:}"; then
      apt_install nodejs npm
    else
      die "node/npm not found, and the distribution's nodejs (${candidate:-none}) is older than" \
        "the pinned peers need: node $NODE_NEEDS. Install such a Node (nodejs.org, nvm)," \
        "or run only fauxauth: SERVERS=fauxauth"
    fi
  fi
  node_version="$(node --version 2>/dev/null || echo '?')"
  node_ok "$node_version" ||
    die "node $node_version is too old for the pinned peers: they need node $NODE_NEEDS." \
      "Install such a Node (nodejs.org, nvm), or run only fauxauth: SERVERS=fauxauth"
  # Reinstall when the lock file changed since the last install.
  if [[ ! -f "$here/node_modules/.package-lock.json" || "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]]; then
    log "npm ci in benches/peers"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
fi

pkg_version() { # pkg_version NPM_PACKAGE
  node -p "require('$here/node_modules/$1/package.json').version" 2>/dev/null || echo "?"
}

cores="$(nproc)"
if ((cores < 2)) && [[ " $SETUPS " == *" pinned "* ]]; then
  warn "only $cores CPU: the pinned setup puts server and wrk on the same CPU"
  CLIENT_CPU="$SERVER_CPU"
fi
clk_tck="$(getconf CLK_TCK)"

# --------------------------------------------------------------- helpers ---
b64url_decode() {
  local s="${1//-/+}"
  s="${s//_//}"
  case $((${#s} % 4)) in
    2) s+="==" ;;
    3) s+="=" ;;
  esac
  printf '%s' "$s" | base64 -d 2>/dev/null || true
}

proc_cpu_ticks() { # utime + stime of a process, in clock ticks
  # Drop "pid (comm) " (comm may hold spaces); fields then start at #3, so
  # utime (#14) and stime (#15) are the 12th and 13th.
  awk '{ sub(/^.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' "/proc/$1/stat" 2>/dev/null || echo 0
}

proc_status() { # proc_status PID FIELD -> value (first word) or "?"
  awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print "?" }' "/proc/$1/status" 2>/dev/null || echo "?"
}

token_path() {
  case "$1" in
    fauxauth) echo /oauth/token ;;
    *) echo /token ;;
  esac
}
jwks_path() {
  case "$1" in
    fauxauth) echo /jwks.json ;;
    *) echo /jwks ;;
  esac
}

SRV_URL=""
start_server() { # start_server NAME ALG SETUP -> SRV_PID, SRV_URL
  local name="$1" alg="$2" setup="$3"
  local out="$tmp/$name-$alg-$setup.out" err="$tmp/$name-$alg-$setup.err"
  local -a pin=() cmd=()
  [[ "$setup" == pinned ]] && pin=(taskset -c "$SERVER_CPU")
  case "$name" in
    fauxauth)
      local cfg="$tmp/fauxauth-$alg.yaml"
      sed "s/^signing_alg:.*/signing_alg: $alg/" "$here/fauxauth-bench.yaml" >"$cfg"
      cmd=("$fauxauth_bin" serve --addr "$HOST:0" --config "$cfg")
      ;;
    oidc-provider) cmd=(node "$here/oidc-provider-server.mjs") ;;
    oauth2-mock-server) cmd=(node "$here/oauth2-mock-server.mjs") ;;
  esac
  ALG="$alg" HOST="$HOST" PORT=0 "${pin[@]}" "${cmd[@]}" >"$out" 2>"$err" </dev/null &
  SRV_PID=$!
  local i line=""
  for ((i = 0; i < 300; i++)); do
    line="$(grep -m1 -oE "listening on http://127\.0\.0\.1:[0-9]+" "$out" 2>/dev/null || true)"
    [[ -n "$line" ]] && break
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$line" ]]; then
    warn "$name ($alg) did not report 'listening on http://127.0.0.1:PORT' within 30 s; stdout/stderr:"
    sed 's/^/    /' "$out" "$err" >&2 || true
    stop_server
    return 1
  fi
  SRV_URL="http://${line##*http://}"
}

sanity_check() { # sanity_check NAME ALG -> 0 if token, discovery, JWKS OK
  local name="$1" alg="$2" body code tok hdr
  body="$tmp/sanity.json"
  code="$(curl -sS -o "$body" -w '%{http_code}' --max-time 10 -u "$CLIENT_AUTH" \
    -H 'Accept: application/json' --data "$TOKEN_FORM" "$SRV_URL$(token_path "$name")" || true)"
  if [[ "$code" != 200 ]]; then
    warn "$name: token endpoint answered HTTP $code: $(head -c 300 "$body" 2>/dev/null)"
    return 1
  fi
  tok="$(sed -n 's/.*"access_token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$body")"
  if [[ -z "$tok" ]]; then
    warn "$name: 200 without access_token: $(head -c 300 "$body")"
    return 1
  fi
  hdr="$(b64url_decode "${tok%%.*}")"
  log "$name $alg: token OK, JWT header $hdr"
  if ! grep -qE "\"alg\"[[:space:]]*:[[:space:]]*\"$alg\"" <<<"$hdr"; then
    warn "$name: access token is not signed with $alg (header: $hdr)"
    return 1
  fi
  local path
  for path in /.well-known/openid-configuration "$(jwks_path "$name")"; do
    code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$SRV_URL$path" || true)"
    if [[ "$code" != 200 ]]; then
      warn "$name: GET $path answered HTTP $code"
      return 1
    fi
  done
}

results="$tmp/results.tsv" # setup alg server endpoint conns rps p50 p99 non2xx sockerr cpu% rss_kb
memory="$tmp/memory.tsv"   # setup alg server rss_start hwm_end rss_end threads
failures="$tmp/failures.tsv"
: >"$results"
: >"$memory"
: >"$failures"

run_wrk() { # run_wrk NAME SETUP ALG ENDPOINT METHOD PATH CONNS SECONDS [record]
  local name="$1" setup="$2" alg="$3" endpoint="$4" method="$5" path="$6" conns="$7" secs="$8" record="${9:-record}"
  local threads=1 out t0 t1 line
  ((conns > 1)) && threads=2
  local -a pin=()
  [[ "$setup" == pinned ]] && pin=(taskset -c "$CLIENT_CPU")
  t0="$(proc_cpu_ticks "$SRV_PID")"
  out="$(BENCH_METHOD="$method" timeout $((secs + 30)) "${pin[@]}" wrk -t"$threads" -c"$conns" -d"${secs}s" \
    --timeout 5s --latency -s "$here/token.lua" "$SRV_URL$path" 2>&1)" || true
  t1="$(proc_cpu_ticks "$SRV_PID")"
  [[ "$record" == record ]] || return 0
  line="$(grep -m1 '^BENCH ' <<<"$out" || true)"
  if [[ -z "$line" ]]; then
    warn "$name $endpoint c$conns: wrk produced no result:"
    printf '    %s\n' "${out//$'\n'/$'\n'    }" >&2
    printf '%s\t%s\t%s\n' "$setup/$alg/$name" "$endpoint c$conns" "wrk failed" >>"$failures"
    return 0
  fi
  local requests duration_us rps p50 p99 non2xx cerr rerr werr terr k v kv
  for kv in ${line#BENCH }; do
    k="${kv%%=*}"
    v="${kv#*=}"
    case "$k" in
      requests) requests="$v" ;;
      duration_us) duration_us="$v" ;;
      rps) rps="$v" ;;
      p50_us) p50="$v" ;;
      p99_us) p99="$v" ;;
      non2xx) non2xx="$v" ;;
      connect_err) cerr="$v" ;;
      read_err) rerr="$v" ;;
      write_err) werr="$v" ;;
      timeout_err) terr="$v" ;;
    esac
  done
  # Cross-check wrk's own summary line.
  local text_non2xx
  text_non2xx="$(sed -n 's/.*Non-2xx or 3xx responses:[[:space:]]*\([0-9]*\).*/\1/p' <<<"$out")"
  [[ -n "$text_non2xx" ]] || text_non2xx=0
  ((text_non2xx > non2xx)) && non2xx="$text_non2xx"
  local sockerr=$((cerr + rerr + werr + terr))
  local cpu
  cpu="$(awk -v d=$((t1 - t0)) -v hz="$clk_tck" -v us="$duration_us" 'BEGIN { printf "%.0f", ((us > 0) ? 100 * d / hz / (us / 1e6) : 0) }')"
  local rss
  rss="$(proc_status "$SRV_PID" VmRSS)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$setup" "$alg" "$name" "$endpoint" "$conns" "$rps" "$p50" "$p99" "$non2xx" "$sockerr" "$cpu" "$rss" >>"$results"
  log "$(printf '%-9s %-6s %-19s %-9s c%-3s %9s req/s  p50 %6.2f ms  p99 %7.2f ms  non-2xx %s  sock-err %s  cpu %s%%  rss %s kB  (%s req)' \
    "$setup" "$alg" "$name" "$endpoint" "$conns" "$rps" "$(awk -v u="$p50" 'BEGIN{print u/1000}')" \
    "$(awk -v u="$p99" 'BEGIN{print u/1000}')" "$non2xx" "$sockerr" "$cpu" "$rss" "$requests")"
  if ((non2xx > 0 || sockerr > 0)); then
    printf '%s\t%s\t%s\n' "$setup/$alg/$name" "$endpoint c$conns" "$non2xx non-2xx, $sockerr socket errors" >>"$failures"
  fi
}

# ---------------------------------------------------------------- openssl ---
openssl_rows="$tmp/openssl.tsv" # primitive mode sign/s verify/s
: >"$openssl_rows"
if ((OPENSSL_SECONDS > 0)); then
  for prim in rsa2048 ecdsap256; do
    for mode in single multi; do
      speed_cmd=(openssl speed -seconds "$OPENSSL_SECONDS")
      if [[ "$mode" == single ]]; then
        speed_cmd=(taskset -c "$SERVER_CPU" "${speed_cmd[@]}")
      else
        speed_cmd+=(-multi "$cores")
      fi
      log "${speed_cmd[*]} $prim"
      "${speed_cmd[@]}" "$prim" >"$tmp/openssl.out" 2>/dev/null || true
      # The result table's header names its columns; the sign/s and verify/s columns are
      # found by name, counted from the end of the data line (OpenSSL 3.0 prints
      # "rsa 2048 bits  <sign> <verify> <sign/s> <verify/s>"; 3.2 and later add encrypt and
      # decrypt columns and print "rsa   2048 bits").
      row="$(awk -v p="$prim" -v m="$mode" '
        /sign\/s/ && /verify\/s/ {
          hn = split($0, h, " ")
          for (i = 1; i <= hn; i++) { if (h[i] == "sign/s") si = i; if (h[i] == "verify/s") vi = i }
          next
        }
        hn && si && vi && NF >= hn &&
          ((p == "rsa2048" && $1 == "rsa" && $2 == "2048" && $3 == "bits") ||
           (p == "ecdsap256" && /ecdsa \(nistp256\)/)) {
          off = NF - hn; s = $(off + si); v = $(off + vi)
        }
        END { if (s ~ /^[0-9.]+$/ && v ~ /^[0-9.]+$/) printf "%s\t%s\t%s\t%s\n", p, m, s, v }
      ' "$tmp/openssl.out")"
      if [[ -n "$row" ]]; then
        printf '%s\n' "$row" >>"$openssl_rows"
      else
        warn "could not read the $prim sign/s from '${speed_cmd[*]} $prim'; its output:"
        sed 's/^/    /' "$tmp/openssl.out" >&2 || true
        printf '%s\t%s\t%s\n' "openssl" "$prim $mode" "openssl speed output not understood: no signing bound" >>"$failures"
      fi
    done
  done
fi

# ------------------------------------------------------------------- main ---
n_runs=0
for setup in $SETUPS; do
  case "$setup" in pinned | unpinned) ;; *) die "unknown setup '$setup' (pinned|unpinned)" ;; esac
  for alg in $ALGS; do
    case "$alg" in RS256 | ES256) ;; *) die "unknown alg '$alg' (RS256|ES256)" ;; esac
    for name in "${servers[@]}"; do
      log "--- $setup $alg $name"
      if ! start_server "$name" "$alg" "$setup"; then
        printf '%s\t%s\t%s\n' "$setup/$alg/$name" start "did not start" >>"$failures"
        continue
      fi
      log "$name pid $SRV_PID at $SRV_URL"
      if ! sanity_check "$name" "$alg"; then
        printf '%s\t%s\t%s\n' "$setup/$alg/$name" sanity "sanity check failed; not measured" >>"$failures"
        stop_server
        continue
      fi
      rss_start="$(proc_status "$SRV_PID" VmRSS)"
      tpath="$(token_path "$name")"
      if ((WARMUP > 0)); then
        run_wrk "$name" "$setup" "$alg" token POST "$tpath" 16 "$WARMUP" warmup
      fi
      for c in $CONNS; do
        run_wrk "$name" "$setup" "$alg" token POST "$tpath" "$c" "$DURATION"
      done
      for c in $GET_CONNS; do
        run_wrk "$name" "$setup" "$alg" discovery GET /.well-known/openid-configuration "$c" "$DURATION"
        run_wrk "$name" "$setup" "$alg" jwks GET "$(jwks_path "$name")" "$c" "$DURATION"
      done
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$setup" "$alg" "$name" "$rss_start" \
        "$(proc_status "$SRV_PID" VmHWM)" "$(proc_status "$SRV_PID" VmRSS)" "$(proc_status "$SRV_PID" Threads)" >>"$memory"
      if ! kill -0 "$SRV_PID" 2>/dev/null; then
        printf '%s\t%s\t%s\n' "$setup/$alg/$name" run "server exited during the run" >>"$failures"
      fi
      stop_server
      n_runs=$((n_runs + 1))
    done
  done
done

# ----------------------------------------------------------------- report ---
mkdir -p "$(dirname "$OUT")"
{
  echo "# fauxauth vs peers: client-credentials token endpoint"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "- machine: $cores CPU ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo '?')), $(uname -sr)"
  echo "- wrk: $(wrk --version 2>&1 | head -n1 | awk '{ print $2 }'); $DURATION s per measurement after a ${WARMUP} s warm-up; token = POST form \`$TOKEN_FORM\` with HTTP Basic \`bench\`; wrk \`-t1\` at 1 connection, \`-t2\` above"
  echo "- setups: pinned = server \`taskset -c $SERVER_CPU\`, wrk \`taskset -c $CLIENT_CPU\`; unpinned = no affinity"
  if ((${#peers[@]} > 0)); then
    echo "- node $(node --version); oauth2-mock-server $(pkg_version oauth2-mock-server); oidc-provider $(pkg_version oidc-provider)"
  fi
  if [[ -n "$fauxauth_bin" ]]; then
    echo "- fauxauth: \`$FAUXAUTH_BIN\` ($fauxauth_provenance)"
  else
    echo "- fauxauth: not measured (not in SERVERS)"
  fi
  echo "- ratio = fauxauth req/s / best peer req/s in the same row"
  echo

  if [[ -s "$openssl_rows" ]]; then
    echo "## Signing bound (openssl speed -seconds $OPENSSL_SECONDS)"
    echo
    echo "| primitive | 1 core sign/s | 1 core verify/s | -multi $cores sign/s | -multi $cores verify/s |"
    echo "|---|---:|---:|---:|---:|"
    awk -F'\t' '
      { v[$1 "," $2 ",s"] = $3; v[$1 "," $2 ",v"] = $4; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
      END { for (i = 1; i <= n; i++) { p = order[i]
        printf "| %s | %s | %s | %s | %s |\n", p, v[p ",single,s"], v[p ",single,v"], v[p ",multi,s"], v[p ",multi,v"] } }
    ' "$openssl_rows"
    echo
  fi

  echo "## Requests/s (p50 / p99 latency, ms)"
  echo
  header="| setup | alg | endpoint | conns |"
  rule="|---|---|---|---:|"
  for s in "${servers[@]}"; do
    header+=" $s |"
    rule+="---:|"
  done
  echo "$header fauxauth / best peer |"
  echo "$rule---:|"
  awk -F'\t' -v servers="${servers[*]}" '
    BEGIN { ns = split(servers, S, " ") }
    {
      key = $1 SUBSEP $2 SUBSEP $4 SUBSEP $5
      if (!(key in seen)) { seen[key] = 1; order[++n] = key }
      rps[key, $3] = $6
      cell[key, $3] = sprintf("%.0f (%.2f / %.2f)", $6, $7 / 1000, $8 / 1000)
      if ($9 + $10 > 0) cell[key, $3] = cell[key, $3] sprintf(" **%d errors**", $9 + $10)
    }
    END {
      for (i = 1; i <= n; i++) {
        key = order[i]; split(key, K, SUBSEP)
        line = sprintf("| %s | %s | %s | %s |", K[1], K[2], K[3], K[4])
        best = 0; f = ""
        for (j = 1; j <= ns; j++) {
          s = S[j]
          line = line " " ((key, s) in cell ? cell[key, s] : "-") " |"
          if (s == "fauxauth") { if ((key, s) in rps) f = rps[key, s] }
          else if ((key, s) in rps && rps[key, s] + 0 > best) best = rps[key, s] + 0
        }
        ratio = (f != "" && best > 0) ? sprintf("%.2fx", f / best) : "n/a"
        print line " " ratio " |"
      }
    }
  ' "$results"
  echo

  echo "## Details"
  echo
  echo "| setup | alg | server | endpoint | conns | req/s | p50 ms | p99 ms | non-2xx | socket errors | server CPU % | server RSS after (MiB) |"
  echo "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %.0f | %.2f | %.2f | %s | %s | %s | %s |\n",
      $1, $2, $3, $4, $5, $6, $7 / 1000, $8 / 1000, $9, $10, $11, ($12 ~ /^[0-9]+$/ ? sprintf("%.1f", $12 / 1024) : $12) }' "$results"
  echo
  echo "Server CPU % is the server process's user+system time over the run (100 = one core)."
  echo

  echo "## Server memory (VmRSS / VmHWM from /proc/PID/status, MiB)"
  echo
  echo "| setup | alg | server | RSS after start | RSS after load | peak (HWM) | threads |"
  echo "|---|---|---|---:|---:|---:|---:|"
  awk -F'\t' 'function mib(k) { return k ~ /^[0-9]+$/ ? sprintf("%.1f", k / 1024) : k }
    { printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, mib($4), mib($6), mib($5), $7 }' "$memory"

  if [[ -s "$failures" ]]; then
    echo
    echo "## Problems"
    echo
    echo "| run | step | problem |"
    echo "|---|---|---|"
    awk -F'\t' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }' "$failures"
  fi
} >"$tmp/report.md"

cp "$tmp/report.md" "$OUT"
cat "$tmp/report.md"
log "report written to $OUT ($n_runs server runs)"

if [[ -s "$failures" ]]; then
  warn "$(wc -l <"$failures") problem(s), see the Problems section"
  exit 1
fi
