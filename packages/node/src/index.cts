/**
 * fauxauth-server: start a fake OpenAI-style OAuth 2.0 / OpenID Connect server (the `fauxauth`
 * binary) on 127.0.0.1 for a test, and steer it through its control API (docs/CONTROL.md).
 *
 * ```js
 * import { start } from "fauxauth-server";
 * const server = await start();
 * const token = await server.clientCredentialsToken();
 * await server.advance("61m"); // the token has expired, at once
 * await server.stop();
 * ```
 *
 * No runtime dependencies: the global `fetch` (Node >= 18) and `node:child_process`.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** A server configuration: YAML text (docs/CONFIG.md) or an object with the same keys. */
export type Config = string | Record<string, unknown>;

/** A duration: the server's grammar (`"61m"`, `"1h30m"`, `"250ms"`) or seconds. */
export type Duration = string | number;

/** What {@link start} takes; every field is optional. */
export interface StartOptions {
  /** The configuration (YAML text or an object); default: the built-in one. */
  config?: Config;
  /** `"generic"` (default) or `"openai"`. */
  profile?: "generic" | "openai";
  /** Virtual seconds per real second. */
  scale?: number;
  /** More `fauxauth serve` options. */
  args?: string[];
  /** Bearer token for the control API (`--admin-token`). */
  adminToken?: string;
  /** The executable; default: {@link findBinary}. */
  binary?: string;
  /** How long to wait for the ready line; default 30 000 ms. */
  timeoutMs?: number;
}

/** The server clock, as every clock operation answers it. */
export interface Clock {
  kind: string;
  now: string;
  now_unix: number;
  scale: number;
  frozen: boolean;
  [key: string]: unknown;
}

/** A fault rule: which requests (`match`), how often (`times`), what happens (`action`). */
export interface FaultRule {
  match?: {
    endpoint?: string;
    grant_type?: string;
    client_id?: string;
    nth?: number;
  };
  times?: number;
  action: unknown;
}

/** One recorded request (docs/CONTROL.md, "Event format"); tokens only as short hashes. */
export interface FauxAuthEvent {
  seq: number;
  real_time_ms: number;
  virtual_time_ms: number;
  endpoint: string;
  method: string;
  path: string;
  status?: number;
  error?: string;
  client_id?: string;
  grant_type?: string;
  token_expired?: boolean;
  family?: string;
  [key: string]: unknown;
}

/** Which events {@link FauxAuth.events} returns. */
export interface EventQuery {
  /** Only events with a greater sequence number (default 0: all). */
  since?: number;
  /** Only this endpoint kind: `token`, `api`, `authorize`, ... */
  endpoint?: string;
  /** Only this client. */
  clientId?: string;
}

/** What {@link FauxAuth.revoke} revokes: exactly one field. */
export type RevokeTarget =
  | { client_id: string }
  | { sub: string }
  | { family: string }
  | { access_token: string }
  | { all: true };

/** A client-credentials token response. */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope?: string;
  [key: string]: unknown;
}

/** Client credentials for {@link FauxAuth.clientCredentialsToken}. */
export interface ClientCredentials {
  /** Default: the built-in `fauxauth-service`. */
  clientId?: string;
  /** Default: `fauxauth-service-secret`. */
  clientSecret?: string;
  scope?: string;
}

/** A running server; stop it with {@link FauxAuth.stop}. */
export interface FauxAuth {
  /** The base URL (the issuer unless the configuration names another), e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The server's process id. */
  readonly pid: number;
  /** Read the server clock. */
  clock(): Promise<Clock>;
  /** Move the virtual clock forward at once (`"61m"` or seconds); returns the clock. */
  advance(by: Duration): Promise<Clock>;
  /** Let virtual time run `scale` times as fast as real time; returns the clock. */
  setScale(scale: number): Promise<Clock>;
  /** Add a fault rule; returns its id. */
  fault(rule: FaultRule): Promise<number>;
  /** Remove every fault rule; returns how many there were. */
  clearFaults(): Promise<number>;
  /** The recorded requests, oldest first. */
  events(query?: EventQuery): Promise<FauxAuthEvent[]>;
  /** Revoke as the administrator; returns how many grants (or tokens) were live. */
  revoke(target: RevokeTarget): Promise<number>;
  /** Forget every token, fault and event and put the clock back. */
  reset(): Promise<void>;
  /** An access token by the client-credentials grant (default client: `fauxauth-service`). */
  clientCredentialsToken(client?: ClientCredentials): Promise<string>;
  /** The whole client-credentials token response. */
  tokenResponse(client?: ClientCredentials): Promise<TokenResponse>;
  /** Any control API call: `control("POST", "/clock/freeze")`. */
  control(method: string, path: string, body?: unknown): Promise<unknown>;
  /** What the server logged on stderr so far. */
  log(): string;
  /** Stop the server (SIGTERM, SIGKILL after 10 s); resolves to its exit code. */
  stop(): Promise<number | null>;
}

/** The server could not start, or answered with an error (`status`, decoded `body`). */
export class FauxAuthError extends Error {
  /** The HTTP status, when there was an answer. */
  readonly status?: number;
  /** The decoded answer, when there was one. */
  readonly body?: unknown;

  constructor(message: string, status?: number, body?: unknown) {
    super(message);
    this.name = "FauxAuthError";
    this.status = status;
    this.body = body;
  }
}

const READY = "fauxauth listening on ";
const CONTROL = "/_fauxauth";
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The `fauxauth` executable: `FAUXAUTH_BIN` if set; else the binary this package carries
 * (linux-x64); else `fauxauth` on `PATH`.
 */
export function findBinary(): string {
  const override = process.env.FAUXAUTH_BIN;
  if (override) {
    if (!isExecutable(override)) {
      throw new FauxAuthError(`FAUXAUTH_BIN=${JSON.stringify(override)} is not an executable file`);
    }
    return override;
  }
  const carried = join(__dirname, "..", "bin", `fauxauth-${process.platform}-${process.arch}`);
  if (isExecutable(carried)) {
    return carried;
  }
  const name = process.platform === "win32" ? "fauxauth.exe" : "fauxauth";
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) {
      return join(dir, name);
    }
  }
  throw new FauxAuthError(
    `no fauxauth binary: this package carries none for ${process.platform}-${process.arch}; ` +
      "put fauxauth on PATH (cargo install --path .) or set FAUXAUTH_BIN",
  );
}

function durationText(by: Duration): string {
  if (typeof by === "string") {
    return by;
  }
  if (!Number.isFinite(by) || by < 0) {
    throw new RangeError(`a duration must be a non-negative number of seconds, not ${by}`);
  }
  return Number.isInteger(by) ? String(by) : `${Math.round(by * 1000)}ms`;
}

function configText(config: Config | undefined, profile: string | undefined): string | undefined {
  if (config === undefined && profile === undefined) {
    return undefined;
  }
  if (config === undefined || typeof config === "object") {
    const merged: Record<string, unknown> = { ...(config ?? {}) };
    if (profile !== undefined) {
      merged.profile = profile;
    }
    // JSON is YAML: the server reads it as any config file.
    return JSON.stringify(merged, null, 2) + "\n";
  }
  let text = config.endsWith("\n") ? config : config + "\n";
  if (profile !== undefined) {
    text += `profile: ${profile}\n`;
  }
  return text;
}

function readyUrl(child: ChildProcess, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let buffered = "";
    const done = (url: string | undefined): void => {
      clearTimeout(timer);
      child.stdout?.removeAllListeners("data");
      child.removeListener("exit", onExit);
      // Nothing else is ever written to stdout: let the pipe go.
      child.stdout?.destroy();
      resolve(url);
    };
    const onExit = (): void => done(undefined);
    const timer = setTimeout(() => done(undefined), timeoutMs);
    child.once("exit", onExit);
    child.once("error", onExit);
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf("\n");
      if (end >= 0) {
        const line = buffered.slice(0, end);
        done(line.startsWith(READY) ? line.slice(READY.length).trim() : undefined);
      }
    });
  });
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(true);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Start a fresh server on `127.0.0.1:<free port>` and wait until it accepts connections. */
export async function start(options: StartOptions = {}): Promise<FauxAuth> {
  const exe = options.binary ?? findBinary();
  const workdir = mkdtempSync(join(tmpdir(), "fauxauth-"));
  const logPath = join(workdir, "server.log");
  const args = ["serve", "--addr", "127.0.0.1:0", ...(options.args ?? [])];
  const text = configText(options.config, options.profile);
  if (text !== undefined) {
    const path = join(workdir, "config.yaml");
    writeFileSync(path, text);
    args.push("--config", path);
  }
  const env = { ...process.env };
  if (options.adminToken !== undefined) {
    env.FAUXAUTH_ADMIN_TOKEN = options.adminToken;
  }
  const readLog = (): string => {
    try {
      return readFileSync(logPath, "utf8");
    } catch {
      return "";
    }
  };
  const logFd = openSync(logPath, "w");
  let child: ChildProcess;
  try {
    child = spawn(exe, args, { stdio: ["ignore", "pipe", logFd], env });
  } finally {
    closeSync(logFd);
  }
  const url = await readyUrl(child, options.timeoutMs ?? 30_000);
  if (url === undefined) {
    child.kill("SIGKILL");
    await exited(child, 5_000);
    const log = readLog().trim() || "no output";
    rmSync(workdir, { recursive: true, force: true });
    throw new FauxAuthError(`fauxauth serve did not start (${exe}): ${log}`);
  }
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test that forgets stop() must not leave a server behind.
    process.once("exit", () => running.forEach((c) => c.kill("SIGTERM")));
  }
  // The test runner may exit while a server runs (the exit hook stops it).
  child.unref();

  const adminToken = options.adminToken;
  let stopped: Promise<number | null> | undefined;

  async function request(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}): Promise<unknown> {
    let answer: Response;
    try {
      answer = await fetch(url + path, { method, body: init.body, headers: init.headers });
    } catch (error) {
      throw new FauxAuthError(`${method} ${path}: no answer (${String(error)})`);
    }
    const raw = await answer.text();
    let body: unknown = undefined;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    if (answer.status >= 400) {
      const fields = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
      const code = typeof fields.error === "string" ? ` ${fields.error}` : "";
      const detail = fields.message ?? fields.error_description;
      throw new FauxAuthError(
        `${method} ${path}: ${answer.status}${code}${detail ? `: ${String(detail)}` : ""}`,
        answer.status,
        body,
      );
    }
    return body;
  }

  function control(method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = {};
    if (adminToken !== undefined) {
      headers.authorization = `Bearer ${adminToken}`;
    }
    let sent: string | undefined;
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      sent = JSON.stringify(body);
    }
    return request(method, CONTROL + path, { body: sent, headers });
  }

  async function tokenResponse(client: ClientCredentials = {}): Promise<TokenResponse> {
    const id = encodeURIComponent(client.clientId ?? "fauxauth-service");
    const secret = encodeURIComponent(client.clientSecret ?? "fauxauth-service-secret");
    const form = new URLSearchParams({ grant_type: "client_credentials" });
    if (client.scope !== undefined) {
      form.set("scope", client.scope);
    }
    return (await request("POST", "/oauth/token", {
      body: form.toString(),
      headers: {
        authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
    })) as TokenResponse;
  }

  const server: FauxAuth = {
    url,
    pid: child.pid ?? -1,
    clock: async () => (await control("GET", "/clock")) as Clock,
    advance: async (by) => (await control("POST", "/clock/advance", { by: durationText(by) })) as Clock,
    setScale: async (scale) => (await control("POST", "/clock/scale", { scale })) as Clock,
    fault: async (rule) => ((await control("POST", "/faults", rule)) as { id: number }).id,
    clearFaults: async () => ((await control("DELETE", "/faults")) as { removed: number }).removed,
    events: async (query = {}) => {
      const params = new URLSearchParams({ since: String(query.since ?? 0) });
      if (query.endpoint !== undefined) params.set("endpoint", query.endpoint);
      if (query.clientId !== undefined) params.set("client_id", query.clientId);
      return ((await control("GET", `/events?${params}`)) as { events: FauxAuthEvent[] }).events;
    },
    revoke: async (target) => {
      if (Object.keys(target).length !== 1) {
        throw new TypeError("revoke takes exactly one of client_id, sub, family, access_token, all");
      }
      return ((await control("POST", "/tokens/revoke", target)) as { revoked: number }).revoked;
    },
    reset: async () => {
      await control("POST", "/reset");
    },
    clientCredentialsToken: async (client) => (await tokenResponse(client)).access_token,
    tokenResponse,
    control,
    log: readLog,
    stop: () => {
      stopped ??= (async () => {
        child.kill("SIGTERM");
        if (!(await exited(child, 10_000))) {
          child.kill("SIGKILL");
          await exited(child, 5_000);
        }
        running.delete(child);
        rmSync(workdir, { recursive: true, force: true });
        return child.exitCode;
      })();
      return stopped;
    },
  };
  if (options.scale !== undefined) {
    try {
      await server.setScale(options.scale);
    } catch (error) {
      await server.stop();
      throw error;
    }
  }
  return server;
}
