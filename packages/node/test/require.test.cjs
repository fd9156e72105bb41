// The CommonJS entry point is the same implementation, with its own type declarations.
const { test } = require("node:test");
const assert = require("node:assert/strict");
const { existsSync } = require("node:fs");
const { dirname, join } = require("node:path");

test("require() gives the same API", async (t) => {
  const { start, findBinary, FauxAuthError } = require("fauxauth-server");
  assert.equal(typeof findBinary, "function");
  assert.equal(typeof FauxAuthError, "function");
  const server = await start();
  t.after(() => server.stop());
  assert.equal((await server.tokenResponse()).token_type, "Bearer");
});

test("both entry points have type declarations", () => {
  const manifest = require.resolve("fauxauth-server/package.json");
  const pkg = require(manifest);
  for (const kind of ["import", "require"]) {
    const types = pkg.exports["."][kind].types;
    assert.ok(existsSync(join(dirname(manifest), types)), `${kind}: ${types}`);
  }
});
