"""The pytest plugin (registered through the ``pytest11`` entry point).

Fixture ``fauxauth``: a fresh :class:`~fauxauth.FauxAuth` server for each test, stopped after
it. Its options come from the marker ``@pytest.mark.fauxauth(config=..., profile=...,
scale=..., args=...)``, else from the fixture ``fauxauth_config`` (override it in a
``conftest.py`` or a test module; it returns YAML text or a dict). When a test fails, the
server's events are attached to its report (section "fauxauth events").
"""

from __future__ import annotations

import json
from typing import Any, Dict, Generator, Optional

import pytest

from .server import Config, FauxAuth

_MARKER = "fauxauth"
#: Where the fixture leaves the test's server for the report hook.
_KEY = pytest.StashKey[FauxAuth]()


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, so that ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        "fauxauth(config=None, profile=None, scale=None, args=()): options of the fauxauth "
        "server the `fauxauth` fixture starts (config: YAML text or a dict).",
    )


@pytest.fixture
def fauxauth_config() -> Optional[Config]:
    """The configuration of the ``fauxauth`` server (YAML text or a dict, docs/CONFIG.md);
    ``None`` (the default) means the built-in one. A marker's ``config=`` takes precedence."""
    return None


@pytest.fixture
def fauxauth(
    request: pytest.FixtureRequest, fauxauth_config: Optional[Config]
) -> Generator[FauxAuth, None, None]:
    """A fresh fauxauth server on 127.0.0.1:<free port> for this test, stopped after it."""
    options: Dict[str, Any] = {"config": fauxauth_config}
    marker = request.node.get_closest_marker(_MARKER)
    if marker is not None:
        if marker.args:
            pytest.fail(
                "@pytest.mark.fauxauth takes keyword arguments only: config=, profile=, "
                "scale=, args=",
                pytrace=False,
            )
        unknown = set(marker.kwargs) - {"config", "profile", "scale", "args"}
        if unknown:
            pytest.fail(
                f"@pytest.mark.fauxauth: unknown option(s) {sorted(unknown)}; "
                "use config=, profile=, scale=, args=",
                pytrace=False,
            )
        options.update(marker.kwargs)
    server = FauxAuth.start(**options)
    request.node.stash[_KEY] = server
    try:
        yield server
    finally:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """On a failed test, attach the server's events (one JSON object a line) to the report."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed or report.when == "teardown":
        return
    server = item.stash.get(_KEY, None)
    if server is None or server.process.poll() is not None:
        return
    try:
        events = server.events()
    except Exception as error:  # the report must not fail because the server did
        report.sections.append(("fauxauth events", f"(could not read the events: {error})"))
        return
    text = "\n".join(json.dumps(event, sort_keys=True) for event in events)
    report.sections.append(("fauxauth events", f"{len(events)} events from {server.url}\n{text}"))
