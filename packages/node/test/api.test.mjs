// The rest of the API: options, the clock, faults, revocation, stop, errors, the binary.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, sep } from "node:path";
import { FauxAuthError, findBinary, start } from "fauxauth-server";

const callApi = async (server, token) =>
  (
    await fetch(`${server.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: '{"input":"hi"}',
    })
  ).status;

test("a fresh server on loopback whose discovery names its url", async (t) => {
  const server = await start();
  t.after(() => server.stop());
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(server.url.endsWith(":0"), true);
  assert.deepEqual(await server.events(), []);
  const doc = await (await fetch(`${server.url}/.well-known/openid-configuration`)).json();
  assert.equal(doc.issuer, server.url);
});

test("config as an object, as YAML text, and the profile", async (t) => {
  const object = await start({ config: { access_token_ttl: "5m" } });
  t.after(() => object.stop());
  assert.equal((await object.tokenResponse()).expires_in, 300);

  const yaml = await start({ config: "access_token_ttl: 2m\nsigning_alg: ES256\n" });
  t.after(() => yaml.stop());
  const token = await yaml.clientCredentialsToken();
  assert.equal((await yaml.tokenResponse()).expires_in, 120);
  const header = JSON.parse(Buffer.from(token.split(".")[0], "base64url").toString());
  assert.equal(header.alg, "ES256");

  // The openai profile registers the Codex CLI's public client instead of the built-in ones.
  const openai = await start({ profile: "openai" });
  t.after(() => openai.stop());
  await assert.rejects(openai.clientCredentialsToken(), (e) => e instanceof FauxAuthError && e.status === 401 && e.body.error === "invalid_client");
});

test("scale, and advance by seconds", async (t) => {
  const server = await start({ scale: 60 });
  t.after(() => server.stop());
  assert.equal((await server.clock()).scale, 60);
  assert.equal((await server.setScale(1)).scale, 1);
  const token = await server.clientCredentialsToken();
  assert.equal(await callApi(server, token), 200);
  await server.advance(3599);
  assert.equal(await callApi(server, token), 200);
  await server.advance(2);
  assert.equal(await callApi(server, token), 401);
  await assert.rejects(server.advance("soon"), (e) => e.status === 400 && e.body.error === "bad_request");
  await assert.rejects(server.advance(-1), RangeError);
});

test("a fault fires as often as told, and shows in the events", async (t) => {
  const server = await start();
  t.after(() => server.stop());
  const id = await server.fault({
    match: { endpoint: "token" },
    times: 1,
    action: { oauth_error: { error: "temporarily_unavailable" } },
  });
  await assert.rejects(server.clientCredentialsToken(), (e) => e.status === 503 && /temporarily_unavailable/.test(e.message));
  assert.ok(await server.clientCredentialsToken());
  const events = await server.events({ endpoint: "token" });
  assert.deepEqual(events.map((e) => e.status), [503, 200]);
  assert.equal(events[0].fault.rule, id);
  assert.equal(await server.clearFaults(), 1);
});

test("revoke refuses a client's tokens", async (t) => {
  const server = await start();
  t.after(() => server.stop());
  const token = await server.clientCredentialsToken();
  assert.equal(await callApi(server, token), 200);
  assert.equal(await server.revoke({ client_id: "fauxauth-service" }), 1);
  assert.equal(await callApi(server, token), 401);
  await assert.rejects(server.revoke({ client_id: "a", sub: "b" }), TypeError);
});

test("stop ends the process gracefully, once", async () => {
  const server = await start();
  const url = server.url;
  assert.equal(await server.stop(), 0);
  assert.equal(await server.stop(), 0);
  assert.throws(() => process.kill(server.pid, 0));
  await assert.rejects(fetch(`${url}/.well-known/jwks.json`));
});

test("a bad config is a clear error", async () => {
  await assert.rejects(start({ config: "acess_token_ttl: 1h\n" }), (e) => e instanceof FauxAuthError && /did not start/.test(e.message) && /unknown key `acess_token_ttl`/.test(e.message));
});

test("FAUXAUTH_BIN overrides the binary and must be executable", async (t) => {
  const real = findBinary();
  if (process.env.FAUXAUTH_EXPECT_CARRIED) {
    // Installed from the packed tarball: the binary it carries, not one on PATH.
    assert.ok(real.includes(`${sep}node_modules${sep}fauxauth-server${sep}bin${sep}`), real);
  }
  const dir = mkdtempSync(join(tmpdir(), "fauxauth-bin-"));
  const plain = join(dir, "fauxauth");
  writeFileSync(plain, "not a program");
  chmodSync(plain, 0o644);
  const saved = process.env.FAUXAUTH_BIN;
  t.after(() => {
    if (saved === undefined) delete process.env.FAUXAUTH_BIN;
    else process.env.FAUXAUTH_BIN = saved;
  });
  process.env.FAUXAUTH_BIN = real;
  assert.equal(findBinary(), real);
  process.env.FAUXAUTH_BIN = plain;
  await assert.rejects(start(), /FAUXAUTH_BIN/);
});
