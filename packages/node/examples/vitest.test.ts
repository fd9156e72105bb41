// The same check with Vitest (`npx vitest run`); for Jest, drop the import line (its globals
// are the same) and run it through ts-jest or babel.
import { afterEach, beforeEach, expect, test } from "vitest";
import { start, type FauxAuth } from "fauxauth-server";

let server: FauxAuth;
beforeEach(async () => {
  server = await start();
});
afterEach(() => server.stop());

test("an agent's token dies after an hour, in milliseconds", async () => {
  const token = await server.clientCredentialsToken();
  const ask = () =>
    fetch(`${server.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ input: "hello" }),
    });
  expect((await ask()).status).toBe(200);

  await server.advance("61m"); // an hour passes, instantly
  const expired = await ask();
  expect(expired.status).toBe(401);
  expect(expired.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);

  const api = await server.events({ endpoint: "api" });
  expect(api.map((e) => e.status)).toEqual([200, 401]);
  expect(api[1].token_expired).toBe(true);
});
