// A small OAuth agent on openid-client: the Node example for `fauxauth run`'s external mode
// (see docs/HARNESS.md, "Test your own agent in CI"). Like examples/external_agent.py it
// believes `expires_in` as in production and never reads FAUXAUTH_TIME_SCALE: run it under
// `clock: server` to live an hour in seconds, or in real time against short lifetimes.
//
// Authorization code + PKCE S256 approved headlessly (the authorization URL's redirect is read,
// not followed), or client credentials; calls the model API, refreshing before expiry.
// Environment: the FAUXAUTH_* variables, plus AGENT_DURATION, AGENT_CALL_INTERVAL,
// AGENT_REFRESH_BUFFER, AGENT_HTTP_TIMEOUT (seconds on its own clock) and AGENT_NEVER_REFRESH.
// Exits 0 when every API call succeeded, 1 otherwise.
import * as client from 'openid-client';

const env = process.env;
const seconds = (name, fallback) => Number(env[name] ?? fallback);
const DURATION = seconds('AGENT_DURATION', 2.5);
const INTERVAL = seconds('AGENT_CALL_INTERVAL', 0.2);
const BUFFER = seconds('AGENT_REFRESH_BUFFER', 300);
const HTTP_TIMEOUT = seconds('AGENT_HTTP_TIMEOUT', 30);
const NEVER_REFRESH = env.AGENT_NEVER_REFRESH === '1';
const FLOW = env.FAUXAUTH_FLOW ?? 'authorization_code';
const START = performance.now();
const now = () => (performance.now() - START) / 1000;
const log = (message) => console.log(`[node agent ${now().toFixed(2).padStart(7)}s] ${message}`);
const sleep = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000));

const secret = env.FAUXAUTH_CLIENT_SECRET ?? '';
const config = await client.discovery(
  new URL(env.FAUXAUTH_ISSUER),
  env.FAUXAUTH_CLIENT_ID,
  secret || undefined,
  secret ? client.ClientSecretBasic(secret) : client.None(),
  { execute: [client.allowInsecureRequests], timeout: HTTP_TIMEOUT },
);

async function login() {
  if (FLOW === 'client_credentials') {
    return client.clientCredentialsGrant(config, { scope: env.FAUXAUTH_SCOPES });
  }
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: env.FAUXAUTH_REDIRECT_URI,
    scope: env.FAUXAUTH_SCOPES,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  const answer = await fetch(url, { redirect: 'manual' });
  const location = answer.headers.get('location');
  if (!location) throw new Error(`authorization answered ${answer.status} without a redirect`);
  return client.authorizationCodeGrant(config, new URL(location), {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
}

class Tokens {
  constructor(answer, previousRefresh) {
    this.access = answer.access_token;
    this.refresh = answer.refresh_token ?? previousRefresh;
    this.lifetime = answer.expiresIn() ?? 3600;
    this.expiresAt = now() + this.lifetime;
  }
}

async function freshToken(tokens) {
  if (NEVER_REFRESH || now() < tokens.expiresAt - Math.min(BUFFER, tokens.lifetime / 2)) {
    return tokens;
  }
  if (tokens.refresh) {
    log('access token inside the refresh buffer: refreshing');
    return new Tokens(await client.refreshTokenGrant(config, tokens.refresh), tokens.refresh);
  }
  log('access token inside the refresh buffer: asking for a new one');
  return new Tokens(await login());
}

async function callApi(token) {
  const answer = await fetch(`${env.FAUXAUTH_API_BASE}/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-fauxauth-1', input: 'ping' }),
    signal: AbortSignal.timeout(HTTP_TIMEOUT * 1000),
  });
  await answer.arrayBuffer();
  return answer.status;
}

let tokens = new Tokens(await login());
log(`logged in (${FLOW}); refresh token: ${tokens.refresh ? 'yes' : 'no'}`);
let calls = 0;
let failures = 0;
while (now() < DURATION) {
  tokens = await freshToken(tokens);
  const status = await callApi(tokens.access);
  calls += 1;
  if (status !== 200) {
    failures += 1;
    log(`API answered ${status}`);
  }
  await sleep(INTERVAL);
}
log(`done: ${calls} API calls, ${failures} failed`);
process.exit(failures ? 1 : 0);
