#!/usr/bin/env python3
"""A tiny OAuth agent, standard library only: the example client for `fauxauth run`'s
external mode (see docs/HARNESS.md, "Test your own agent in CI").

It does what the seed's agent configuration asks for:
  * authorization code + PKCE S256, approved headlessly (GET the authorization URL, read the
    redirect's Location, check state and iss: iss is required when the server's metadata
    advertises it, RFC 9207), or client credentials;
  * calls the model API, refreshing before expiry (token_refresh_buffer), never sending an
    expired token;
  * retries the token endpoint with exponential backoff on 5xx answers.

Configuration comes from the environment fauxauth sets (FAUXAUTH_*), plus:
  AGENT_DURATION        seconds to run (default 2.5)
  AGENT_REFRESH_BUFFER  seconds before expiry to refresh (default 300, the seed's value; at
                        most half the token's lifetime)
  AGENT_CALL_INTERVAL   seconds between API calls (default 0.2)
  AGENT_RETRY_BACKOFF   seconds before the first retry of a 5xx, doubled each time (0.1)
  AGENT_HTTP_TIMEOUT    seconds an HTTP request may take (default 30)
  AGENT_NEVER_REFRESH   "1": a broken agent that keeps its first token forever
Every duration is on the agent's own clock, as in production: it believes `expires_in` and
never reads FAUXAUTH_TIME_SCALE. To test it on an hour-long token in seconds, run it under
`clock: server` (fauxauth puts its clock on the server's virtual clock); in real time, give
the server short lifetimes instead (`access_token_ttl: 2s`).
It exits 0 when every API call succeeded, 1 otherwise.
"""

import base64
import hashlib
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ENV = os.environ
ISSUER = ENV["FAUXAUTH_ISSUER"]
TOKEN_URL = ENV["FAUXAUTH_TOKEN_URL"]
AUTHORIZE_URL = ENV["FAUXAUTH_AUTHORIZE_URL"]
API_BASE = ENV["FAUXAUTH_API_BASE"]
CLIENT_ID = ENV["FAUXAUTH_CLIENT_ID"]
CLIENT_SECRET = ENV.get("FAUXAUTH_CLIENT_SECRET", "")
REDIRECT_URI = ENV.get("FAUXAUTH_REDIRECT_URI", "")
SCOPES = ENV.get("FAUXAUTH_SCOPES", "")
FLOW = ENV.get("FAUXAUTH_FLOW", "authorization_code")
DURATION = float(ENV.get("AGENT_DURATION", "2.5"))
BUFFER = float(ENV.get("AGENT_REFRESH_BUFFER", "300"))
INTERVAL = float(ENV.get("AGENT_CALL_INTERVAL", "0.2"))
RETRIES = 4
HTTP_TIMEOUT = float(ENV.get("AGENT_HTTP_TIMEOUT", "30"))
BACKOFF = float(ENV.get("AGENT_RETRY_BACKOFF", "0.1"))


def log(message):
    print(f"[agent {time.monotonic() - START:6.2f}s] {message}", flush=True)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow redirects: the authorization code must not travel anywhere else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def http(method, url, data=None, headers=None, timeout=None):
    timeout = timeout or HTTP_TIMEOUT
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with OPENER.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def token_request(form):
    """POST the token endpoint, retrying 5xx answers with exponential backoff."""
    if CLIENT_SECRET:
        form = dict(form, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    else:
        form = dict(form, client_id=CLIENT_ID)
    body = urllib.parse.urlencode(form).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    for attempt in range(RETRIES + 1):
        status, _, payload = http("POST", TOKEN_URL, body, headers)
        if status < 500:
            break
        wait = BACKOFF * (2 ** attempt)
        log(f"token endpoint answered {status}; retrying in {wait:.2f}s")
        time.sleep(wait)
    answer = json.loads(payload or b"{}")
    if status != 200:
        raise SystemExit(f"token request failed: {status} {answer}")
    return answer


def pkce_pair():
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return verifier, challenge


def iss_advertised():
    """Whether the server's metadata (RFC 8414) promises iss in authorization responses."""
    status, _, body = http("GET", f"{ISSUER}/.well-known/oauth-authorization-server")
    if status != 200:
        return False
    return json.loads(body).get("authorization_response_iss_parameter_supported") is True


def login():
    if FLOW == "client_credentials":
        return token_request({"grant_type": "client_credentials", "scope": SCOPES})
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    query = urllib.parse.urlencode({
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPES,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    })
    status, headers, body = http("GET", f"{AUTHORIZE_URL}?{query}")
    location = headers.get("Location") or headers.get("location")
    if status not in (302, 303) or not location:
        raise SystemExit(f"authorization did not redirect (HTTP {status}): {body[:200]!r}")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    if params.get("state") != state:
        raise SystemExit("state mismatch in the authorization response")
    if "iss" in params and params["iss"] != ISSUER:
        raise SystemExit("iss mismatch in the authorization response (RFC 9207)")
    if "iss" not in params and iss_advertised():
        raise SystemExit("no iss in the authorization response, though the server advertises it (RFC 9207)")
    if "error" in params:
        raise SystemExit(f"authorization refused: {params['error']}: {params.get('error_description')}")
    return token_request({
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    })


class Tokens:
    def __init__(self, answer):
        self.access = answer["access_token"]
        self.refresh = answer.get("refresh_token")
        self.lifetime = float(answer.get("expires_in", 3600))
        self.expires_at = time.monotonic() + self.lifetime

    def update(self, answer):
        refresh = self.refresh
        self.__init__(answer)
        self.refresh = self.refresh or refresh


def fresh_token(tokens):
    if ENV.get("AGENT_NEVER_REFRESH") == "1":
        return tokens.access
    if time.monotonic() < tokens.expires_at - min(BUFFER, tokens.lifetime / 2):
        return tokens.access
    if tokens.refresh:
        log("access token inside the refresh buffer: refreshing")
        tokens.update(token_request({"grant_type": "refresh_token", "refresh_token": tokens.refresh}))
    else:
        log("access token inside the refresh buffer: asking for a new one")
        tokens.update(login())
    return tokens.access


def call_api(token):
    body = json.dumps({"model": "gpt-fauxauth-1", "input": "ping"}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    status, _, _ = http("POST", f"{API_BASE}/responses", body, headers)
    return status


START = time.monotonic()


def main():
    tokens = Tokens(login())
    log(f"logged in ({FLOW}); refresh token: {'yes' if tokens.refresh else 'no'}")
    calls = failures = 0
    while time.monotonic() - START < DURATION:
        status = call_api(fresh_token(tokens))
        calls += 1
        if status != 200:
            failures += 1
            log(f"API answered {status}")
        time.sleep(INTERVAL)
    log(f"done: {calls} API calls, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
