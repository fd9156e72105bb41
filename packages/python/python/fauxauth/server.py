"""Start a ``fauxauth serve`` process and steer it through its control API.

Only the HTTP control API documented in docs/CONTROL.md (``/_fauxauth/...``) is used, with the
standard library (``urllib``); the server is the ``fauxauth`` binary found by
:func:`find_binary`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Type, Union

__all__ = [
    "Config",
    "Duration",
    "FauxAuth",
    "FauxAuthError",
    "find_binary",
]

#: A server configuration: YAML text (see docs/CONFIG.md) or a mapping with the same keys.
Config = Union[str, Mapping[str, Any]]
#: A duration: the server's grammar (``"61m"``, ``"1h30m"``, ``"250ms"``) or seconds.
Duration = Union[str, int, float]

_READY = "fauxauth listening on "
_CONTROL = "/_fauxauth"
_SERVICE_CLIENT = ("fauxauth-service", "fauxauth-service-secret")


class FauxAuthError(RuntimeError):
    """The server could not be started, or answered a request with an error.

    ``status`` is the HTTP status (``None`` when there was no answer) and ``body`` the
    decoded JSON answer (or ``None``).
    """

    def __init__(
        self, message: str, status: Optional[int] = None, body: Optional[Any] = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def find_binary() -> str:
    """The ``fauxauth`` executable to run.

    In order: the ``FAUXAUTH_BIN`` environment variable; the ``fauxauth`` script this wheel
    installed (the interpreter's script directory); ``fauxauth`` on ``PATH``.
    """
    override = os.environ.get("FAUXAUTH_BIN")
    if override:
        if not os.access(override, os.X_OK):
            raise FauxAuthError(f"FAUXAUTH_BIN={override!r} is not an executable file")
        return override
    name = "fauxauth.exe" if os.name == "nt" else "fauxauth"
    schemes = [None, f"{os.name}_user"]
    for scheme in schemes:
        try:
            scripts = (
                sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
            )
        except KeyError:
            continue
        candidate = Path(scripts) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    # The interpreter's own directory (a venv used without activation).
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("fauxauth")
    if found:
        return found
    raise FauxAuthError(
        "no fauxauth binary: install the wheel (pip install fauxauth), put fauxauth on PATH "
        "(cargo install --path .) or set FAUXAUTH_BIN"
    )


def _duration(value: Duration) -> str:
    """A duration in the server's grammar: strings pass through, seconds become ``"90"``
    (or ``"1500ms"`` when fractional)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value < 0:
        raise ValueError(f"a duration must be a non-negative number of seconds, not {value!r}")
    if float(value).is_integer():
        return str(int(value))
    return f"{round(value * 1000)}ms"


def _config_text(config: Optional[Config], profile: Optional[str]) -> Optional[str]:
    """The configuration file's text, with ``profile`` set, or ``None`` for the defaults."""
    if config is None and profile is None:
        return None
    if config is None or isinstance(config, Mapping):
        merged: Dict[str, Any] = dict(config or {})
        if profile is not None:
            merged["profile"] = profile
        # JSON is YAML: the server reads it as it reads any config file.
        return json.dumps(merged, indent=2) + "\n"
    text = config if config.endswith("\n") else config + "\n"
    if profile is not None:
        text += f"profile: {profile}\n"
    return text


class FauxAuth:
    """A running ``fauxauth serve`` on ``127.0.0.1:<free port>``, stopped by :meth:`stop`.

    Start one with :meth:`start` (or use the pytest fixture ``fauxauth``)::

        with FauxAuth.start(config={"access_token_ttl": "10m"}) as server:
            token = server.client_credentials_token()
            server.advance("11m")          # the token has expired, at once

    ``url`` is the server's base URL (its issuer unless the configuration names another).
    """

    def __init__(
        self,
        process: "subprocess.Popen[str]",
        url: str,
        workdir: str,
        admin_token: Optional[str] = None,
    ) -> None:
        """Wrap a started process; use :meth:`start` instead."""
        self.process = process
        self.url = url
        self._workdir = workdir
        self._admin_token = admin_token
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # ----- lifecycle -------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        config: Optional[Config] = None,
        *,
        profile: Optional[str] = None,
        scale: Optional[float] = None,
        args: Sequence[str] = (),
        admin_token: Optional[str] = None,
        binary: Optional[str] = None,
        timeout: float = 30.0,
    ) -> "FauxAuth":
        """Start a server on ``127.0.0.1:0`` and wait for its ready line.

        ``config``: YAML text or a mapping (docs/CONFIG.md); ``profile``: ``"generic"`` or
        ``"openai"``; ``scale``: virtual seconds per real second; ``args``: more
        ``fauxauth serve`` options; ``binary``: the executable (default :func:`find_binary`).
        """
        exe = binary or find_binary()
        workdir = tempfile.mkdtemp(prefix="fauxauth-")
        command = [exe, "serve", "--addr", "127.0.0.1:0", *args]
        text = _config_text(config, profile)
        if text is not None:
            path = os.path.join(workdir, "config.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            command += ["--config", path]
        env = dict(os.environ)
        if admin_token is not None:
            env["FAUXAUTH_ADMIN_TOKEN"] = admin_token
        log = open(os.path.join(workdir, "server.log"), "w+", encoding="utf-8")
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
            )
        except OSError as error:
            log.close()
            shutil.rmtree(workdir, ignore_errors=True)
            raise FauxAuthError(f"cannot run {exe}: {error}") from error
        finally:
            if not log.closed:
                log.close()
        url = cls._ready_url(process, timeout)
        if url is None:
            cls._kill(process)
            message = cls._read_log(workdir).strip() or "no output"
            shutil.rmtree(workdir, ignore_errors=True)
            raise FauxAuthError(
                f"fauxauth serve did not start (exit status {process.returncode}): {message}"
            )
        server = cls(process, url, workdir, admin_token)
        if scale is not None:
            try:
                server.set_scale(scale)
            except BaseException:
                server.stop()
                raise
        return server

    @staticmethod
    def _ready_url(process: "subprocess.Popen[str]", timeout: float) -> Optional[str]:
        """Read the one ready line from stdout (in a thread, so that a silent process cannot
        block past ``timeout``)."""
        line: List[str] = []
        stdout = process.stdout
        if stdout is None:
            return None
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not line or not line[0].startswith(_READY):
            return None
        return line[0][len(_READY) :].strip()

    @staticmethod
    def _kill(process: "subprocess.Popen[str]") -> None:
        if process.poll() is None:
            process.kill()
        process.wait()

    @staticmethod
    def _read_log(workdir: str) -> str:
        try:
            with open(os.path.join(workdir, "server.log"), encoding="utf-8") as f:
                return f.read()
        except OSError:
            return ""

    def log(self) -> str:
        """What the server wrote to stderr so far (its log)."""
        return self._read_log(self._workdir)

    def stop(self, timeout: float = 10.0) -> int:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds) and return its
        exit status. Calling it again does nothing."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()
        shutil.rmtree(self._workdir, ignore_errors=True)
        return self.process.returncode

    def __enter__(self) -> "FauxAuth":
        return self

    def __exit__(
        self,
        kind: Optional[Type[BaseException]],
        value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.stop()

    # ----- HTTP ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Optional[Any] = None,
        form: Optional[Mapping[str, str]] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Any:
        """Send a request to ``url + path`` and return the decoded JSON answer (or ``None``
        for an empty body). A status of 400 or more raises :class:`FauxAuthError`."""
        data: Optional[bytes] = None
        sent = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body).encode()
            sent["content-type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            sent["content-type"] = "application/x-www-form-urlencoded"
        elif method in ("POST", "PUT"):
            data = b""
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=sent)
        try:
            with self._opener.open(req, timeout=30) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as error:
            raw = error.read()
            body = _decode(raw)
            fields = body if isinstance(body, dict) else {}
            detail = fields.get("message") or fields.get("error_description")
            code = fields.get("error")
            raise FauxAuthError(
                f"{method} {path}: {error.code}"
                + (f" {code}" if code else "")
                + (f": {detail}" if detail else ""),
                status=error.code,
                body=body,
            ) from None
        except OSError as error:
            raise FauxAuthError(f"{method} {path}: no answer ({error})") from None
        return _decode(raw)

    def control(self, method: str, path: str, body: Optional[Any] = None) -> Any:
        """Call the control API: ``control("POST", "/clock/freeze")`` is
        ``POST {url}/_fauxauth/clock/freeze`` (docs/CONTROL.md)."""
        headers = {}
        if self._admin_token is not None:
            headers["authorization"] = f"Bearer {self._admin_token}"
        return self.request(method, _CONTROL + path, json_body=body, headers=headers)

    # ----- the control API ----------------------------------------------------------------

    def clock(self) -> Dict[str, Any]:
        """The server clock: ``{"kind", "now", "now_unix", "scale", "frozen"}``."""
        return _object(self.control("GET", "/clock"))

    def advance(self, by: Duration) -> Dict[str, Any]:
        """Move the virtual clock forward at once (``"61m"``, ``"1h30m"`` or seconds); every
        token that expires meanwhile is refused by the very next request. Returns the clock."""
        return _object(self.control("POST", "/clock/advance", {"by": _duration(by)}))

    def set_scale(self, scale: float) -> Dict[str, Any]:
        """Let virtual time run ``scale`` times as fast as real time. Returns the clock."""
        return _object(self.control("POST", "/clock/scale", {"scale": scale}))

    def fault(self, rule: Mapping[str, Any]) -> int:
        """Add a fault rule (``{"match": ..., "times": ..., "action": ...}``, docs/CONTROL.md)
        and return its id."""
        return int(self.control("POST", "/faults", dict(rule))["id"])

    def clear_faults(self) -> int:
        """Remove every fault rule; returns how many there were."""
        return int(self.control("DELETE", "/faults")["removed"])

    def events(
        self,
        since: int = 0,
        *,
        endpoint: Optional[str] = None,
        client_id: Optional[str] = None,
    ) -> List[Dict[str, Any]]:
        """The recorded requests (one dict per request, oldest first) after sequence number
        ``since``, optionally only one ``endpoint`` (``"token"``, ``"api"``, ...) or client.
        Tokens appear only as short hashes."""
        query: Dict[str, Any] = {"since": since}
        if endpoint is not None:
            query["endpoint"] = endpoint
        if client_id is not None:
            query["client_id"] = client_id
        answer = self.control("GET", "/events?" + urllib.parse.urlencode(query))
        return list(answer["events"])

    def revoke(
        self,
        *,
        client_id: Optional[str] = None,
        sub: Optional[str] = None,
        family: Optional[str] = None,
        access_token: Optional[str] = None,
        all: bool = False,
    ) -> int:
        """Revoke, as the administrator, exactly one of: every grant of a client, of a user
        (``sub``), one grant (``family``), one access token, or everything (``all=True``).
        Returns how many were live."""
        targets = {
            "client_id": client_id,
            "sub": sub,
            "family": family,
            "access_token": access_token,
        }
        body: Dict[str, Any] = {k: v for k, v in targets.items() if v is not None}
        if all:
            body["all"] = True
        if len(body) != 1:
            raise ValueError(
                "revoke takes exactly one of client_id, sub, family, access_token, all=True"
            )
        return int(self.control("POST", "/tokens/revoke", body)["revoked"])

    def reset(self) -> None:
        """Forget every token, fault and event and put the clock back (docs/CONTROL.md)."""
        self.control("POST", "/reset")

    # ----- helpers for tests --------------------------------------------------------------

    def client_credentials_token(
        self,
        client_id: str = _SERVICE_CLIENT[0],
        client_secret: str = _SERVICE_CLIENT[1],
        scope: Optional[str] = None,
    ) -> str:
        """An access token by the client-credentials grant (default: the built-in client
        ``fauxauth-service``), as a client sends it (HTTP Basic)."""
        return str(self.token_response(client_id, client_secret, scope)["access_token"])

    def token_response(
        self,
        client_id: str = _SERVICE_CLIENT[0],
        client_secret: str = _SERVICE_CLIENT[1],
        scope: Optional[str] = None,
    ) -> Dict[str, Any]:
        """The whole client-credentials token response (``access_token``, ``expires_in``,
        ``scope``, ...)."""
        pair = (
            f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(client_secret, safe='')}"
        )
        basic = base64.b64encode(pair.encode()).decode()
        form = {"grant_type": "client_credentials"}
        if scope is not None:
            form["scope"] = scope
        return _object(
            self.request(
                "POST",
                "/oauth/token",
                form=form,
                headers={"authorization": f"Basic {basic}"},
            )
        )

    def __repr__(self) -> str:
        return f"FauxAuth(url={self.url!r}, pid={self.process.pid})"


def _object(answer: Any) -> Dict[str, Any]:
    """An answer that must be a JSON object."""
    if not isinstance(answer, dict):
        raise FauxAuthError(f"expected a JSON object, got {answer!r}")
    return answer


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
