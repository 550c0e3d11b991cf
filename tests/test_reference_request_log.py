"""The reference API's access log (``REFERENCE_API_REQUEST_LOG``): one line per request as
received, what the e2e runs compare Locust's statistics with."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from reference_api.request_log import RequestLog, read_request_log
from reference_api.shedding import ShedLoad


def _app(log_path: str, *, max_in_flight: int = 8) -> Starlette:
    async def ok(request):  # noqa: ANN001
        return PlainTextResponse("ok")

    async def boom(request):  # noqa: ANN001
        return PlainTextResponse("no", status_code=503)

    app = Starlette(routes=[Route("/api/offers/{x}/view", ok, methods=["POST"]),
                            Route("/down", boom)])  # fmt: skip
    app.add_middleware(ShedLoad, max_in_flight=max_in_flight)
    app.add_middleware(RequestLog, path=log_path)  # outermost, as create_app adds it
    return app


def test_every_request_is_one_line_with_method_path_status_and_agent(tmp_path):
    log = tmp_path / "api.log"
    with TestClient(_app(str(log))) as c:
        c.post("/api/offers/12/view?x=1", headers={"User-Agent": "locust\tlike"})
        c.get("/down")
        c.get("/nowhere")
    assert read_request_log(log) == [
        {"method": "POST", "path": "/api/offers/12/view", "status": "200", "user_agent": "locust like"},
        {"method": "GET", "path": "/down", "status": "503", "user_agent": "testclient"},
        {"method": "GET", "path": "/nowhere", "status": "404", "user_agent": "testclient"},
    ]  # fmt: skip


def test_a_shed_request_is_logged_with_its_429(tmp_path):
    """The log is outside the load shedder: a request refused at once still counts."""
    log = tmp_path / "api.log"
    with TestClient(_app(str(log), max_in_flight=0)) as c:  # every request is shed
        assert c.post("/api/offers/1/view").status_code == 429
    assert [(x["path"], x["status"]) for x in read_request_log(log)] == [
        ("/api/offers/1/view", "429")
    ]
