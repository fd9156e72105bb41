import json
import urllib.error
import urllib.request

# Talk to the server directly, whatever HTTP_PROXY says: it is on 127.0.0.1.
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Agent:
    """A small agent: one client-credentials token at start, never renewed (the seed's bug)."""

    def __init__(self, issuer: str, token: str) -> None:
        self.issuer, self.token = issuer, token

    def ask(self, text: str) -> "tuple[int, str]":
        request = urllib.request.Request(
            f"{self.issuer}/v1/responses",
            data=json.dumps({"input": text}).encode(),
            headers={
                "authorization": f"Bearer {self.token}",
                "content-type": "application/json",
            },
        )
        try:
            with http.open(request) as answer:
                return answer.status, ""
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("www-authenticate", "")


def test_the_agent_fails_silently_after_an_hour(fauxauth):
    agent = Agent(fauxauth.url, fauxauth.client_credentials_token())
    assert agent.ask("hello")[0] == 200

    fauxauth.advance("61m")  # an hour passes, instantly
    status, challenge = agent.ask("hello again")
    assert status == 401 and 'error="invalid_token"' in challenge

    api = fauxauth.events(endpoint="api")
    assert [e["status"] for e in api] == [200, 401]
    assert api[1]["token_expired"] and api[1]["error"] == "invalid_token"
