-- wrk script for the fauxauth peer benchmark.
--
-- Default: POST a client-credentials token request (form body, HTTP Basic
-- auth bench:bench-secret). With BENCH_METHOD=GET it sends plain GETs of the
-- URL given on the wrk command line (discovery, JWKS).
--
-- done() prints one machine-readable line that run.sh parses:
--   BENCH requests=N duration_us=N rps=F p50_us=N p99_us=N mean_us=F
--         non2xx=N connect_err=N read_err=N write_err=N timeout_err=N
-- (non2xx counts every response with status > 399, as wrk does for its
-- "Non-2xx or 3xx responses" line.)

local method = os.getenv("BENCH_METHOD") or "POST"

if method == "POST" then
  wrk.method = "POST"
  wrk.body = os.getenv("BENCH_BODY")
    or "grant_type=client_credentials&scope=model.request"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  -- base64("bench:bench-secret")
  wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
    or "Basic YmVuY2g6YmVuY2gtc2VjcmV0"
else
  wrk.method = "GET"
end
wrk.headers["Accept"] = "application/json"

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d mean_us=%.1f"
      .. " non2xx=%d connect_err=%d read_err=%d write_err=%d timeout_err=%d\n",
    summary.requests, summary.duration, summary.requests / secs,
    latency:percentile(50), latency:percentile(99), latency.mean,
    e.status, e.connect, e.read, e.write, e.timeout))
end
