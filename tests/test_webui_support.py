"""Helpers for the web UI tests and ``bench/webui_screenshot.py``: a real ``locust`` with the
web UI on a free loopback port, its JSON endpoints, and Debian's headless Chromium (CLI
screenshots / DOM dumps, and a minimal DevTools-protocol client for real mouse clicks).

No test functions here; this process never imports locust (it monkey-patches the stdlib).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "locustfile.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocustUI:
    """A running ``locust`` process with its web UI at ``url``."""

    proc: subprocess.Popen
    url: str
    log: Path

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return http(self.url + path, **kw)

    def post(self, path: str, **kw: Any) -> tuple[int, Any]:
        return http(self.url + path, method="POST", **kw)

    def status(self) -> dict[str, Any]:
        code, body = self.get("/simulation/status")
        assert code == 200, (code, body)
        return body["status"]

    def tab_rows(self) -> dict[str, dict[str, Any]]:
        """The Simulation tab's rows from ``/stats/requests``, by status key."""
        code, body = self.get("/stats/requests")
        assert code == 200, (code, body)
        ours = [e for e in body.get("extended_stats", []) if e["key"] == "simulation"]
        assert len(ours) == 1, body.get("extended_stats")
        return {row["key"]: row for row in ours[0]["data"]}

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


@contextmanager
def running_locust(
    tmp: Path,
    *extra: str,
    locustfile: Path = LOCUSTFILE,
    time_scale: float = 120,
    base_path: str = "",
) -> Iterator[LocustUI]:
    """Start ``locust`` (mock API and DB, web UI on loopback) in ``tmp``; stop it after.

    ``base_path`` must match a ``--web-base-path`` given in ``extra``; ``LocustUI.url``
    includes it.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    env.pop("DATABASE_URL", None)
    env.update(LOADSIM_HOME=str(tmp / ".loadsim"), PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--mock-api", "--mock-db",
        "--web-host", "127.0.0.1", "--web-port", str(port), "--time-scale", str(time_scale),
        *extra,
    ]  # fmt: skip
    if "--processes" in extra:  # never the default 5557: another run may hold it
        zmq_port = str(free_port())
        cmd += ["--master-bind-port", zmq_port, "--master-port", zmq_port]
    log = tmp / "locust.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            cmd, cwd=tmp, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    ui = LocustUI(proc=proc, url=f"http://127.0.0.1:{port}{base_path}", log=log)
    try:
        wait_for(lambda: _answers(ui), timeout=60, what=f"the web UI at {ui.url}", ui=ui)
        yield ui
    finally:
        _stop(proc)


def _answers(ui: LocustUI) -> bool:
    try:
        code, _ = http(ui.url + "/simulation/status", follow=False, timeout=2)
    except OSError:
        return False
    return code in (200, 302)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    every: float = 0.5,
    ui: LocustUI | None = None,
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ui is not None and ui.proc.poll() is not None:
            raise AssertionError(f"locust exited ({ui.proc.returncode}):\n{ui.tail()}")
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None


def http(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    follow: bool = True,
    opener: urllib.request.OpenerDirector | None = None,
    timeout: float = 10,
) -> tuple[int, Any]:
    """``(status, body)``; the body is parsed JSON when the answer is JSON, else text."""
    hdrs = {"Accept": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    if opener is None:
        opener = (
            urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
        )
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, _body(resp.headers.get("Content-Type", ""), resp.read())
    except urllib.error.HTTPError as err:
        body = _body(err.headers.get("Content-Type", ""), err.read())
        if 300 <= err.code < 400:
            body = {"location": err.headers.get("Location"), "body": body}
        return err.code, body


def _body(ctype: str, raw: bytes) -> Any:
    if "json" in ctype:
        return json.loads(raw)
    return raw.decode("utf-8", "replace")


# ------------------------------------------------------------------ Chromium


def chromium_cli(args: list[str], *, profile: Path, timeout: float = 60) -> str:
    """Run headless Chromium once (screenshot or ``--dump-dom``); returns its stdout."""
    cmd = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Browser:
    """Headless Chromium driven over the DevTools protocol (one page), for real clicks.

    Needs ``websocket-client`` (``import websocket``).
    """

    def __init__(self, profile: Path) -> None:
        import websocket  # websocket-client; callers skip when it is missing

        profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            port_file = profile / "DevToolsActivePort"
            wait_for(port_file.exists, timeout=30, what="Chromium's DevTools port")
            port = int(port_file.read_text().split()[0])
            targets = _json_get(f"http://127.0.0.1:{port}/json/list")
            page = next(t for t in targets if t.get("type") == "page")
            # Chromium rejects DevTools websockets carrying an Origin it was not told about.
            self.ws = websocket.create_connection(
                page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True
            )
        except BaseException:
            self.close()
            raise
        self._id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:  # events arrive interleaved with answers; skip them
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def js(self, expression: str) -> Any:
        res = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return res.get("result", {}).get("value")

    def wait_js(self, expression: str, *, timeout: float = 30, what: str = "") -> Any:
        return wait_for(lambda: self.js(expression), timeout=timeout, what=what or expression)

    def click(self, selector: str) -> None:
        """A real mouse click (press + release) at the centre of ``selector``."""
        box = self.wait_js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; const r = e.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()",
            what=f"element {selector}",
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"],
                button="left", clickCount=1,
            )  # fmt: skip

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        _stop(self.proc)


def _json_get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def chromium_missing() -> str | None:
    """Why the browser checks cannot run here, or None."""
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        return f"{CHROMIUM} is not installed (Debian: apt-get install -y chromium)"
    return None


def require_chromium() -> None:
    """Skip a browser test when Chromium is missing — but FAIL it under ``CI=true``: CI
    (``.ci/run``) installs Chromium, so a missing browser there is a broken job, not a
    reason to stop clicking the Simulation tab unnoticed."""
    import pytest  # here, not at the top: bench/webui_screenshot.py imports this module

    reason = chromium_missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)
