"""The fixture, the marker, the control helpers and the failure report of the plugin."""

from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.request

import pytest
from fauxauth import FauxAuth, FauxAuthError, find_binary
from fauxauth.server import _duration

http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call_api(server: FauxAuth, token: str) -> int:
    """POST /v1/responses with ``token``; the HTTP status."""
    request = urllib.request.Request(
        f"{server.url}/v1/responses",
        data=b'{"input": "hi"}',
        headers={
            "authorization": f"Bearer {token}",
            "content-type": "application/json",
        },
    )
    try:
        with http.open(request) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_fixture_is_a_fresh_server_on_loopback(fauxauth: FauxAuth) -> None:
    assert fauxauth.url.startswith("http://127.0.0.1:")
    assert not fauxauth.url.endswith(":0")
    assert fauxauth.events() == []
    doc = fauxauth.request("GET", "/.well-known/openid-configuration")
    assert doc["issuer"] == fauxauth.url


def test_the_default_token_lives_an_hour(fauxauth: FauxAuth) -> None:
    assert fauxauth.token_response()["expires_in"] == 3600


@pytest.mark.fauxauth(config={"access_token_ttl": "5m"})
def test_the_marker_takes_a_dict_config(fauxauth: FauxAuth) -> None:
    assert fauxauth.token_response()["expires_in"] == 300


class TestTheConfigFixture:
    @pytest.fixture
    def fauxauth_config(self) -> str:
        return "access_token_ttl: 2m\nsigning_alg: ES256\n"

    def test_gives_yaml_text(self, fauxauth: FauxAuth) -> None:
        token = fauxauth.client_credentials_token()
        assert fauxauth.token_response()["expires_in"] == 120
        header = json.loads(_b64url(token.split(".")[0]))
        assert header["alg"] == "ES256"

    @pytest.mark.fauxauth(config={"access_token_ttl": "7m"})
    def test_the_marker_wins_over_it(self, fauxauth: FauxAuth) -> None:
        assert fauxauth.token_response()["expires_in"] == 420


@pytest.mark.fauxauth(profile="openai")
def test_the_marker_sets_the_profile(fauxauth: FauxAuth) -> None:
    # The openai profile registers the Codex CLI's public client instead of the built-in ones.
    with pytest.raises(FauxAuthError) as caught:
        fauxauth.client_credentials_token()
    assert caught.value.status == 401
    assert caught.value.body["error"] == "invalid_client"


@pytest.mark.fauxauth(scale=60)
def test_the_marker_sets_the_scale(fauxauth: FauxAuth) -> None:
    assert fauxauth.clock()["scale"] == 60
    assert fauxauth.set_scale(1)["scale"] == 1


def test_advance_takes_seconds_and_expires_tokens(fauxauth: FauxAuth) -> None:
    token = fauxauth.client_credentials_token()
    before = fauxauth.clock()["now_unix"]
    assert call_api(fauxauth, token) == 200
    after = fauxauth.advance(3599)["now_unix"]
    assert after - before >= 3599
    assert call_api(fauxauth, token) == 200
    fauxauth.advance(2)
    assert call_api(fauxauth, token) == 401


def test_durations_in_seconds_become_the_server_grammar() -> None:
    assert [_duration(d) for d in ("61m", 90, 90.0, 1.5)] == [
        "61m",
        "90",
        "90",
        "1500ms",
    ]
    with pytest.raises(ValueError):
        _duration(-1)


def test_a_fault_fires_as_often_as_told(fauxauth: FauxAuth) -> None:
    rule = fauxauth.fault(
        {
            "match": {"endpoint": "token"},
            "times": 1,
            "action": {"oauth_error": {"error": "temporarily_unavailable"}},
        }
    )
    assert rule >= 1
    with pytest.raises(FauxAuthError) as caught:
        fauxauth.client_credentials_token()
    assert caught.value.status == 503
    assert "temporarily_unavailable" in str(caught.value)
    assert fauxauth.client_credentials_token()
    token_events = fauxauth.events(endpoint="token")
    assert [e["status"] for e in token_events] == [503, 200]
    assert token_events[0]["fault"]["rule"] == rule
    assert fauxauth.clear_faults() == 1


def test_revoke_refuses_the_clients_tokens(fauxauth: FauxAuth) -> None:
    token = fauxauth.client_credentials_token()
    assert call_api(fauxauth, token) == 200
    assert fauxauth.revoke(client_id="fauxauth-service") == 1
    assert call_api(fauxauth, token) == 401
    with pytest.raises(ValueError):
        fauxauth.revoke(client_id="a", sub="b")


def test_bad_control_requests_raise_with_the_servers_message(
    fauxauth: FauxAuth,
) -> None:
    with pytest.raises(FauxAuthError) as caught:
        fauxauth.advance("soon")
    assert caught.value.status == 400
    assert caught.value.body["error"] == "bad_request"


def test_stop_ends_the_process_gracefully() -> None:
    with FauxAuth.start() as server:
        url = server.url
        assert server.process.poll() is None
    assert server.process.returncode == 0
    with pytest.raises(FauxAuthError):
        FauxAuth(server.process, url, "/nonexistent").clock()
    assert server.stop() == 0  # again: nothing to do


def test_a_bad_config_is_a_clear_error() -> None:
    with pytest.raises(FauxAuthError) as caught:
        FauxAuth.start(config="acess_token_ttl: 1h\n")
    assert "did not start" in str(caught.value)
    assert "unknown key `acess_token_ttl`" in str(caught.value)


def test_fauxauth_bin_overrides_and_must_be_executable(
    tmp_path: "os.PathLike[str]", monkeypatch: pytest.MonkeyPatch
) -> None:
    real = find_binary()
    monkeypatch.setenv("FAUXAUTH_BIN", real)
    assert find_binary() == real
    plain = os.path.join(str(tmp_path), "fauxauth")
    with open(plain, "w") as f:
        f.write("not a program")
    os.chmod(plain, stat.S_IRUSR)
    monkeypatch.setenv("FAUXAUTH_BIN", plain)
    with pytest.raises(FauxAuthError, match="FAUXAUTH_BIN"):
        FauxAuth.start()


def test_a_failing_test_gets_the_event_log_in_its_report(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_fails(fauxauth):
            fauxauth.client_credentials_token()
            assert False, "on purpose"

        def test_passes(fauxauth):
            fauxauth.client_credentials_token()
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- fauxauth events -*",
            "1 events from http://127.0.0.1:*",
            '*"endpoint": "token"*',
        ]
    )
    assert result.stdout.str().count("fauxauth events") == 1  # the passing test has none


def test_the_marker_is_registered_and_checked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.fauxauth(ttl="5m")
        def test_typo(fauxauth):
            pass
        """
    )
    result = pytester.runpytest("--strict-markers", "-p", "no:cacheprovider")
    assert "unknown option(s) ['ttl']" in result.stdout.str()
    result.assert_outcomes(errors=1)


def _b64url(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
