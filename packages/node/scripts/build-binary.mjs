// Build the fauxauth binary of this repository (release) and copy it into bin/, so that
// `npm pack` makes a tarball that runs on linux-x64 without Rust.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
if (process.platform !== "linux" || process.arch !== "x64") {
  console.error(`build:binary makes the linux-x64 binary; this is ${process.platform}-${process.arch}`);
  process.exit(1);
}
execFileSync("cargo", ["build", "--release", "-p", "fauxauth"], { cwd: root, stdio: "inherit" });
const from = join(root, "target", "release", "fauxauth");
const to = join(here, "..", "bin", "fauxauth-linux-x64");
mkdirSync(dirname(to), { recursive: true });
copyFileSync(from, to);
chmodSync(to, 0o755);
console.log(`copied ${from} to ${to} (${(statSync(to).size / 1048576).toFixed(1)} MiB)`);
