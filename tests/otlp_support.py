"""A loopback OTLP/HTTP receiver for tests: accepts the protobuf posts of the real SDK
exporters (``/v1/traces``, ``/v1/metrics``, ``/v1/logs``) and decodes them with
``opentelemetry-proto``; what arrived is kept as plain dicts."""

from __future__ import annotations

import gzip
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


class OtlpReceiver:
    """``endpoint`` goes in ``OTEL_EXPORTER_OTLP_ENDPOINT`` (with protocol ``http/protobuf``)."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.metrics: dict[str, list[dict[str, Any]]] = {}
        self.posts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---------------------------------------------------------------- decoding

    def take(self, path: str, body: bytes) -> bytes:
        with self.lock:
            self.posts[path] = self.posts.get(path, 0) + 1
            if path == "/v1/traces":
                req = ExportTraceServiceRequest.FromString(body)
                for rs in req.resource_spans:
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            self.spans.append(
                                {
                                    "scope": ss.scope.name,
                                    "name": s.name,
                                    "trace_id": s.trace_id.hex(),
                                    "span_id": s.span_id.hex(),
                                    "parent_id": s.parent_span_id.hex(),
                                    "kind": int(s.kind),
                                    "start": s.start_time_unix_nano,
                                    "end": s.end_time_unix_nano,
                                    "status": int(s.status.code),
                                    "attrs": _attrs(s.attributes),
                                }
                            )
                return ExportTraceServiceResponse().SerializeToString()
            if path == "/v1/metrics":
                req = ExportMetricsServiceRequest.FromString(body)
                for rm in req.resource_metrics:
                    for sm in rm.scope_metrics:
                        for m in sm.metrics:
                            data = m.WhichOneof("data")
                            points = getattr(m, data).data_points if data else []
                            self.metrics.setdefault(m.name, []).extend(
                                {
                                    "scope": sm.scope.name,
                                    "type": data,
                                    "attrs": _attrs(p.attributes),
                                    "value": _point_value(p),
                                }
                                for p in points
                            )
                return ExportMetricsServiceResponse().SerializeToString()
            return b""  # /v1/logs: accepted, not kept


def _point_value(p: Any) -> Any:
    if hasattr(p, "count") and hasattr(p, "bucket_counts"):
        return {"count": int(p.count), "sum": float(p.sum)}
    kind = p.WhichOneof("value")
    return getattr(p, kind) if kind else None


def _handler(rx: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the standard library's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            enc = (self.headers.get("Content-Encoding") or "").lower()
            if enc == "gzip":
                body = gzip.decompress(body)
            elif enc == "deflate":
                body = zlib.decompress(body)
            path = self.path.split("?")[0]
            if path not in ("/v1/traces", "/v1/metrics", "/v1/logs"):
                self.send_response(404)
                self.end_headers()
                return
            out = rx.take(path, body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    return Handler


def otel_env(endpoint: str) -> dict[str, str]:
    """The exporters of Locust's ``--otel`` pointed at ``endpoint``, exporting every 0.5 s."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "OTEL_BSP_SCHEDULE_DELAY": "300",
        "OTEL_SERVICE_NAME": "loadsim-test",
    }


def session_traces(
    rx: OtlpReceiver, *, with_requests: bool = False
) -> list[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
    """Every complete agent-session trace received: (root, its node spans in start order,
    the HTTP client spans under those nodes). ``with_requests``: only sessions that sent
    at least one request."""
    with rx.lock:
        spans = list(rx.spans)
    by_id = {s["span_id"]: s for s in spans}
    out = []
    for root in spans:
        if root["name"] != "agent_session" or root["parent_id"]:
            continue
        members = [s for s in spans if s["trace_id"] == root["trace_id"]]
        nodes = sorted(
            (
                s
                for s in members
                if s["parent_id"] == root["span_id"] and s["name"].startswith("node ")
            ),
            key=lambda s: s["start"],
        )
        requests = [
            s for s in members
            if s["kind"] == 3  # SPAN_KIND_CLIENT
            and by_id.get(s["parent_id"], {}).get("name", "").startswith("node ")
        ]  # fmt: skip
        if nodes and (requests or not with_requests):
            out.append((root, nodes, requests))
    return out
