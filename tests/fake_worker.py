"""A fake Locust worker that records every message the master sends it (nothing
secret on the wire). It speaks Locust's own rpc (``locust.rpc``): ``client_ready`` →
``ack``, heartbeats every second, ``spawning``/``spawning_complete`` on ``spawn``, then the
harness's ``loadsim_hello`` (so the master answers with its run config) and one
``loadsim_lease`` (so it answers with a persona). Each received message is appended to
``--out`` as one JSON line: its type, its raw msgpack bytes (hex), exactly as they
crossed the wire, and its decoded data.

``--give-up S``: S seconds after its grant arrives it gives the request up
(``loadsim_release {"req_id": …}``), as a real worker does whose grant never reached it
(``harness.agent.lease_client``): the grant is "lost" on the way.

Run: ``python -m tests.fake_worker --port N --out FILE [--seconds S] [--give-up S]``. Its own
process: Locust's rpc needs gevent, which the test process does not run.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402
from locust import __version__  # noqa: E402
from locust.rpc import Message, rpc  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--give-up", type=float, default=None)
    args = p.parse_args()
    node = f"fake_{uuid.uuid4().hex}"
    client = rpc.Client("127.0.0.1", args.port, node)
    out = open(args.out, "a", buffering=1)  # noqa: SIM115 - lives as long as the process

    state = {"now": "ready"}  # Locust's worker states: ready until the first spawn

    def heartbeat() -> None:
        while True:
            client.send(Message("heartbeat", {"state": state["now"], "current_cpu_usage": 1.0,
                                              "current_memory_usage": 1}, node))  # fmt: skip
            gevent.sleep(1.0)

    client.send(Message("client_ready", __version__, node))
    gevent.spawn(heartbeat)
    deadline = time.monotonic() + args.seconds
    hello_sent = False
    while time.monotonic() < deadline:
        with gevent.Timeout(1.0, False):
            raw = client.socket.recv()
            msg = Message.unserialize(raw)
            line = {"type": msg.type, "raw": raw.hex(), "data": msg.data}
            out.write(json.dumps(line, default=str) + "\n")
            if msg.type == "spawn":
                counts = msg.data["user_classes_count"]
                state["now"] = "running"
                client.send(Message("spawning", None, node))
                client.send(Message("spawning_complete", {"user_classes_count": counts,
                                    "user_count": sum(counts.values())}, node))  # fmt: skip
                if not hello_sent:
                    hello_sent = True
                    client.send(Message("loadsim_hello", {}, node))
                    client.send(Message("loadsim_lease", {"req_id": f"{node}:1"}, node))
            elif msg.type == "loadsim_grant" and args.give_up is not None:
                for item in msg.data.get("grants", []):
                    gevent.spawn_later(args.give_up, client.send, Message(
                        "loadsim_release", {"req_id": item["req_id"]}, node))  # fmt: skip
            elif msg.type == "quit":
                break
    client.send(Message("quit", None, node))
    client.close(linger=0)


if __name__ == "__main__":
    main()
