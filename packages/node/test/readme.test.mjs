import { test } from "node:test";
import assert from "node:assert/strict";
import { start } from "fauxauth-server";

test("an agent's token dies after an hour, in milliseconds", async (t) => {
  const server = await start(); // 127.0.0.1:<free port>, built-in clients
  t.after(() => server.stop());

  const token = await server.clientCredentialsToken();
  const ask = () =>
    fetch(`${server.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ input: "hello" }),
    });
  assert.equal((await ask()).status, 200);

  await server.advance("61m"); // an hour passes, instantly
  const expired = await ask();
  assert.equal(expired.status, 401);
  assert.match(expired.headers.get("www-authenticate"), /error="invalid_token"/);

  const api = await server.events({ endpoint: "api" });
  assert.deepEqual(api.map((e) => e.status), [200, 401]);
  assert.equal(api[1].token_expired, true);
});
