// Minimal panva/oidc-provider instance for the fauxauth peer benchmark.
//
// One confidential client (bench / bench-secret, client_secret_basic) that may
// only use the client_credentials grant with scope `model.request`. Access
// tokens are JWTs (typ at+jwt) signed with ALG (RS256 default, or ES256):
// oidc-provider only issues JWT access tokens when the token is bound to a
// resource server, so features.resourceIndicators supplies a default resource
// whose accessTokenFormat is 'jwt'.
//
// Env: ALG (RS256|ES256), HOST (default 127.0.0.1), PORT (default 0 = any).
// Prints exactly one line `oidc-provider listening on http://HOST:PORT` when
// ready.
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const alg = process.env.ALG || 'RS256';
const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 0);

// The resource server the client-credentials tokens are minted for.
const RESOURCE = 'urn:fauxauth:bench:api';
const SCOPE = 'model.request';
const TTL = 3600;

function signingKey(algorithm) {
  let pair;
  switch (algorithm) {
    case 'RS256':
      pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
      break;
    case 'ES256':
      pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      break;
    default:
      throw new Error(`unsupported ALG ${algorithm} (use RS256 or ES256)`);
  }
  return {
    ...pair.privateKey.export({ format: 'jwk' }),
    kid: `bench-${algorithm.toLowerCase()}`,
    alg: algorithm,
    use: 'sig',
  };
}

const configuration = {
  clients: [
    {
      client_id: 'bench',
      client_secret: 'bench-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: SCOPE,
      id_token_signed_response_alg: alg,
    },
  ],
  scopes: [SCOPE],
  jwks: { keys: [signingKey(alg)] },
  clientDefaults: {
    grant_types: ['client_credentials'],
    response_types: [],
    id_token_signed_response_alg: alg,
    token_endpoint_auth_method: 'client_secret_basic',
  },
  cookies: { keys: ['fauxauth-bench-cookie-key'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      // A request without `resource` is bound to RESOURCE.
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: SCOPE,
          audience: RESOURCE,
          accessTokenTTL: TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg } },
        };
      },
    },
  },
  ttl: { ClientCredentials: TTL },
};

// Bind first so the issuer can carry the real (OS-assigned) port.
let handler = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = http.createServer((req, res) => handler(req, res));
server.keepAliveTimeout = 65_000;

server.listen(port, host, () => {
  const { port: bound } = server.address();
  const issuer = `http://${host}:${bound}`;
  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (_ctx, err) => {
    console.error('oidc-provider server_error:', err);
  });
  handler = provider.callback();
  process.stdout.write(`oidc-provider listening on ${issuer}\n`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
