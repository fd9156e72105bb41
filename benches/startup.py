#!/usr/bin/env python3
"""Time `fauxauth serve` from exec to its ready line, N times; print min/median/p90/max.

Usage: benches/startup.py [BIN] [N] [SERVE ARGS...]
       (default: target/release/fauxauth, 50; e.g. `... 30 --config es256.yaml`)

Each run starts `BIN serve --addr 127.0.0.1:0 [SERVE ARGS...]`, reads stdout until the line
`fauxauth listening on http://...`, then at once asks the server for a signed token
(client_credentials with the built-in `fauxauth-service` client; skipped with `--config`,
whose clients may differ) to show the ready line is honest: the key exists and signs.
Then it stops the server by PID (SIGTERM) and waits for it.

Also printed: the time from the ready line to that first token, and the server's CPU time
(user + system, all threads, exec to exit), which moves less than wall time when the
machine is busy.
"""
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/fauxauth"
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 50
extra = sys.argv[3:]
check_token = "--config" not in extra


def first_token(url):
    body = b"grant_type=client_credentials&scope=model.request"
    request = urllib.request.Request(
        url + "/oauth/token",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    # HTTP Basic: fauxauth-service / fauxauth-service-secret
    request.add_header(
        "Authorization", "Basic ZmF1eGF1dGgtc2VydmljZTpmYXV4YXV0aC1zZXJ2aWNlLXNlY3JldA=="
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token = response.read()
    if b'"access_token"' not in token:
        sys.exit(f"no access token in {token[:200]!r}")


def summary(name, values):
    values = sorted(values)
    n = len(values)
    return (
        f"{name}: min {values[0]:.1f} ms, median {statistics.median(values):.1f} ms, "
        f"p90 {values[int(0.9 * (n - 1))]:.1f} ms, max {values[-1]:.1f} ms"
    )


times, to_token, cpu = [], [], []
for _ in range(runs):
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [binary, "serve", "--addr", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    line = p.stdout.readline().decode()
    t1 = time.perf_counter()
    if not line.startswith("fauxauth listening on http://"):
        p.kill()
        sys.exit(f"unexpected first line: {line!r}")
    if check_token:
        first_token(line.split(" on ", 1)[1].strip())
        to_token.append((time.perf_counter() - t1) * 1000)
    p.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    times.append((t1 - t0) * 1000)
    cpu.append((usage.ru_utime + usage.ru_stime) * 1000)
print(summary(f"fauxauth serve start-up to ready line, {runs} runs", times))
if to_token:
    print(summary("  ready line to first signed token", to_token))
print(summary("  server CPU time, exec to exit", cpu))
