"""A real loopback HTTP server speaking OpenAI's chat-completions protocol with scripted
answers, for the LLM adapter's tests (``tests/test_llm_adapter.py``).

``ScriptedLlmServer(script)``: each POST ``/v1/chat/completions`` takes the next mode from
``script`` (the last one repeats): ``valid`` (the basket: the cheapest offered products, one
each, as many as the schema's lines; the coupon: the first offered; the checkout: complete), ``slow:<s>`` (``valid``
after ``s`` seconds), ``invalid_json``, ``schema`` (JSON of the wrong shape), ``unknown`` (a
product or coupon id not offered; a checkout answer that is neither), ``http_<status>``. It records every
request body and the tokens it reported, so a test can compare what the harness counted
with what the server saw.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROMPT_TOKENS = 150
COMPLETION_TOKENS = 30


class ScriptedLlmServer:
    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.tokens_served = 0
        self.questions: Counter[str] = Counter()  # answered questions by kind
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner._lock:
                    owner.requests.append(body)
                    mode = owner.script.pop(0) if len(owner.script) > 1 else owner.script[0]
                owner._answer(self, body, mode)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedLlmServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _answer(self, h: BaseHTTPRequestHandler, body: dict[str, Any], mode: str) -> None:
        if mode.startswith("http_"):
            self._send(h, int(mode[5:]), {"error": {"message": mode, "type": "scripted"}})
            return
        if mode.startswith("slow:"):
            time.sleep(float(mode[5:]))
            mode = "valid"
        asked = _asked(body)
        with self._lock:
            self.questions[asked["question"]] += 1
        content = {
            "valid": self._valid(asked),
            "invalid_json": '{"lines": [{"product_id": ',
            "schema": json.dumps({"basket": "milk"}),
            "unknown": self._unknown(asked),
        }[mode]
        with self._lock:
            self.tokens_served += PROMPT_TOKENS + COMPLETION_TOKENS
        self._send(h, 200, {
            "id": "chatcmpl-scripted", "object": "chat.completion", "created": 0,
            "model": body.get("model", ""),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                      "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS},
        })  # fmt: skip

    @staticmethod
    def _valid(asked: dict[str, Any]) -> str:
        if asked["question"] == "coupon":  # the best coupon offered
            return json.dumps({"user_coupon_id": asked["coupons"][0]})
        if asked["question"] == "checkout":
            return json.dumps({"decision": "complete"})
        cheap = sorted(asked["offered"], key=lambda p: p["price_cents"])[: asked["lines"]]
        return json.dumps({"lines": [{"product_id": p["id"], "quantity": 1} for p in cheap]})

    @staticmethod
    def _unknown(asked: dict[str, Any]) -> str:
        if asked["question"] == "coupon":
            return json.dumps({"user_coupon_id": 987654321})
        if asked["question"] == "checkout":
            return json.dumps({"decision": "maybe"})
        return json.dumps({"lines": [{"product_id": 987654321, "quantity": 1}]})

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


PRODUCT_LINE = re.compile(r"^(\d+): .*, \$(\d+)\.(\d\d)$", re.MULTILINE)
"""A product of the basket prompt (``behaviors.llm.BasketQuestion``): ``id: name, brand, $price``."""


def _asked(body: dict[str, Any]) -> dict[str, Any]:
    """The question of a request, read as a model would: its kind and allowed values from
    the answer's schema (``response_format``), the offered prices from the prompt."""
    fmt = body["response_format"]
    schema = fmt["schema"] if fmt["type"] == "json_object" else fmt["json_schema"]["schema"]
    props = schema["properties"]
    if "user_coupon_id" in props:
        return {"question": "coupon", "coupons": props["user_coupon_id"]["anyOf"][0]["enum"]}
    if "decision" in props:
        return {"question": "checkout"}
    prompt = body["messages"][-1]["content"]
    offered = [
        {"id": int(m[1]), "price_cents": int(m[2]) * 100 + int(m[3])}
        for m in PRODUCT_LINE.finditer(prompt)
    ]
    return {"question": "basket", "offered": offered, "lines": props["lines"]["minItems"]}
