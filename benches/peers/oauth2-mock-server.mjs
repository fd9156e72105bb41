// oauth2-mock-server instance for the fauxauth peer benchmark, started through
// its programmatic API with a single freshly generated signing key.
//
// Note: oauth2-mock-server does not authenticate clients; the Basic
// credentials the benchmark sends are accepted but not checked.
//
// Env: ALG (RS256|ES256), HOST (default 127.0.0.1), PORT (default 0 = any).
// Prints exactly one line `oauth2-mock-server listening on http://HOST:PORT`
// when ready.
import { OAuth2Server } from 'oauth2-mock-server';

const alg = process.env.ALG || 'RS256';
const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 0);

const server = new OAuth2Server();
await server.issuer.keys.generate(alg);
await server.start(port, host);
// The library spells a loopback issuer as `localhost`; keep the literal
// address so that tokens and discovery name the address actually bound.
server.issuer.url = `http://${host}:${server.address().port}`;
process.stdout.write(`oauth2-mock-server listening on ${server.issuer.url}\n`);

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.stop().finally(() => process.exit(0));
  });
}
