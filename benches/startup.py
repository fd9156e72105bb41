#!/usr/bin/env python3
"""Time `fauxauth serve` from exec to its ready line, N times; print min/median/p90/max.

Usage: benches/startup.py [BIN] [N]   (default: target/release/fauxauth, 50)
Each run starts `BIN serve --addr 127.0.0.1:0`, reads stdout until the line
`fauxauth listening on http://...`, then stops the server by PID (SIGTERM) and waits for it.
"""
import os
import signal
import statistics
import subprocess
import sys
import time

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/fauxauth"
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 50
times = []
for _ in range(runs):
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [binary, "serve", "--addr", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    line = p.stdout.readline().decode()
    t1 = time.perf_counter()
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=10)
    if not line.startswith("fauxauth listening on http://"):
        sys.exit(f"unexpected first line: {line!r}")
    times.append((t1 - t0) * 1000)
times.sort()
print(
    f"fauxauth serve start-up to ready line, {runs} runs: "
    f"min {times[0]:.1f} ms, median {statistics.median(times):.1f} ms, "
    f"p90 {times[int(0.9 * (runs - 1))]:.1f} ms, max {times[-1]:.1f} ms"
)
