"""fauxauth for Python: a fake OpenAI-style OAuth 2.0 / OpenID Connect server per test.

The wheel installs the ``fauxauth`` command and a pytest plugin whose fixture ``fauxauth``
starts a fresh server for each test (see :mod:`fauxauth.plugin`). Outside pytest, start one
with :meth:`FauxAuth.start`.
"""

from .server import Config, Duration, FauxAuth, FauxAuthError, find_binary

__all__ = ["Config", "Duration", "FauxAuth", "FauxAuthError", "find_binary"]
