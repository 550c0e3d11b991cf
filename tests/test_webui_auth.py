"""With ``--web-login`` the Simulation routes need Locust's login, like ``/swarm`` and ``/stop``;
the same server runs under ``--web-base-path /lt`` to show the routes follow Locust's prefix.

Locust's web login needs the locustfile to configure Flask-Login (a user loader and a way
to log in). The test writes a locustfile that wraps the project's and adds exactly that: a
loader knowing one user and a test-only ``POST /test-login``. No run is started (no
``--autostart``), so the authenticated pause reaches the view and answers 409.
"""

from __future__ import annotations

import urllib.request
from http.cookiejar import CookieJar

import pytest

from tests.test_webui_support import ROOT, LocustUI, _NoRedirect, http, running_locust

pytestmark = pytest.mark.e2e
BASE = "/lt"

_LOGIN_LOCUSTFILE = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})

from flask_login import UserMixin, login_user
from locust import events

from locustfile import PersonaUser, WarmupRamp  # noqa: F401  (the project's classes)


class _Tester(UserMixin):
    def __init__(self, uid):
        self.id = uid


@events.init.add_listener
def _login_setup(environment, web_ui=None, **_):
    if web_ui is None:
        return
    web_ui.app.secret_key = "test-only-secret"
    web_ui.login_manager.user_loader(lambda uid: _Tester(uid) if uid == "tester" else None)

    @web_ui.app.route("/lt/test-login", methods=["POST"])
    def _test_login():
        login_user(_Tester("tester"))
        return "ok"
"""


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("webui_auth")
    locustfile = tmp / "login_locustfile.py"
    locustfile.write_text(_LOGIN_LOCUSTFILE)
    with running_locust(
        tmp, "--web-login", "--web-base-path", BASE, locustfile=locustfile, base_path=BASE
    ) as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/simulation"),
        ("GET", "/simulation/status"),
        ("GET", "/simulation/status.csv"),
        ("POST", "/simulation/pause"),
        ("POST", "/simulation/resume"),
        ("POST", "/simulation/checkpoint"),
    ],
)
def test_routes_redirect_to_login_without_a_session(ui: LocustUI, method: str, path: str) -> None:
    code, body = http(ui.url + path, method=method, data=b"" if method == "POST" else None,
                      follow=False)  # fmt: skip
    assert code == 302, body
    assert body["location"].startswith(f"{BASE}/login")


def test_logged_in_session_reaches_the_controls(ui: LocustUI) -> None:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    code, _ = http(ui.url + "/test-login", method="POST", data=b"", opener=opener)
    assert code == 200 and len(jar) == 1

    code, body = http(ui.url + "/simulation/status", opener=opener)
    assert code == 200
    assert body["status"]["run_id"] is None  # no run: the tab says so
    rows = {r["key"]: r for r in body["rows"]}
    assert rows["state"]["value"] == "not started"
    assert rows["sim_time"]["value"] == "—"

    code, body = http(ui.url + "/simulation/pause", method="POST", data=b"", opener=opener)
    assert code == 409 and body["message"] == "no run in progress: start one first"
    code, html = http(ui.url + "/simulation", headers={"Accept": "text/html"}, opener=opener)
    assert code == 200 and f'action="{BASE}/simulation/pause"' in html
    assert f"the page {BASE}/simulation" in html

    # The tab's rows ride on Locust's own (authenticated) stats endpoint.
    code, body = http(ui.url + "/stats/requests", opener=opener)
    assert code == 200
    assert [e["key"] for e in body["extended_stats"]] == ["simulation"]
