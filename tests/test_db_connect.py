"""One clear line for every bad connection: unparsable, unreachable and
wrong-password ``DATABASE_URL``s give exit 2, the password redacted and the fix, in
``db.connect`` itself, in ``loadsim db …`` and in ``locust``'s ``init`` — real servers and
real processes (a refused port, PgBouncer refusing a password, the embedded Postgres)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from db.connect import check_database
from db.errors import DatabaseUnavailable
from tests.e2e_support import ROOT, harness_env, run_locust
from tests.pgbouncer_support import PgBouncer, free_port

SECRET = "secret"


@pytest.fixture(scope="module")
def auth_bouncer(pg_server):
    """PgBouncer checking passwords itself (the embedded server trusts any password on
    its unix socket, so a wrong password is only refused by a real authenticator)."""
    pg_server.create_database("connect_test", drop_first=True)
    b = PgBouncer(pg_server.uri("postgres"), users={"loadsim": "rightpass"}).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def bad_urls(auth_bouncer) -> dict[str, str]:
    return {
        "refused": f"postgresql://user:{SECRET}@127.0.0.1:{free_port()}/x",
        "password": auth_bouncer.url("connect_test", user="loadsim", password=SECRET),
        "garbage": f"postgresql://user:{SECRET}@:notaport/x",
    }


EXPECTED = {
    "refused": "connection refused at 127.0.0.1:",
    "password": "the password was refused for user 'loadsim' — check the password",
    "garbage": "cannot be parsed (the port is not a number) — expected postgresql://USER:",
}


def _one_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize("kind", ["refused", "password", "garbage"])
def test_check_database_names_the_cause_and_hides_the_password(bad_urls, kind):
    with pytest.raises(DatabaseUnavailable) as info:
        check_database(bad_urls[kind])
    msg = str(info.value)
    assert EXPECTED[kind] in msg, msg
    assert SECRET not in msg and "***" in msg
    assert info.value.exit_code == 2 and "\n" not in msg


def test_the_right_password_passes_so_the_refusal_is_the_password(auth_bouncer):
    check_database(auth_bouncer.url("connect_test", user="loadsim", password="rightpass"))


def test_missing_database_and_unknown_host(pg_server):
    with pytest.raises(DatabaseUnavailable, match="database 'no_such_db' does not exist there"):
        check_database(pg_server.uri("no_such_db"))
    with pytest.raises(DatabaseUnavailable, match="host 'nosuchhost.invalid' not found"):
        check_database(f"postgresql://u:{SECRET}@nosuchhost.invalid:5432/x")
    with pytest.raises(DatabaseUnavailable, match=r"is not a Postgres URL \(scheme 'mysql'\)"):
        check_database(f"mysql://u:{SECRET}@h/x")


@pytest.mark.parametrize("command", ["status", "check", "upgrade"])
def test_loadsim_db_commands_print_one_line_and_exit_2(bad_urls, tmp_path, command):
    for kind, url in bad_urls.items():
        proc = subprocess.run(
            [sys.executable, "-m", "harness.cli", "db", command],
            env=harness_env(url, tmp_path), cwd=tmp_path, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2, (kind, out)
        assert "Traceback" not in out and SECRET not in out, (kind, out)
        line = _one_line(proc.stderr)
        assert line.startswith("loadsim: error: "), line
        assert EXPECTED[kind] in line, (kind, line)


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["refused", "password", "garbage"])
def test_locust_with_a_bad_database_url_prints_one_line_and_exits_2(bad_urls, tmp_path, kind):
    proc = run_locust(
        ["--headless", "--mock-api", "--users", "1", "--run-time", "20s"],
        env=harness_env(bad_urls[kind], tmp_path), cwd=ROOT, timeout=120,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Uncaught exception" not in out and "Traceback" not in out, out
    assert SECRET not in out, out
    errors = [ln for ln in out.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1, out
    assert errors[0].startswith("loadsim: error: ") and EXPECTED[kind] in errors[0], out


@pytest.mark.e2e
@pytest.mark.parametrize("host", ["http://127.0.0.1:{port}", "localhost:{port}"])
def test_locust_with_an_unreachable_host_prints_one_line_and_exits_2(tmp_path, host):
    host = host.format(port=free_port())
    proc = run_locust(
        ["--headless", "--mock-db", "--host", host, "--runs-dir", str(tmp_path / "runs")],
        env=harness_env(None, tmp_path), cwd=ROOT, timeout=120,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out and "Uncaught exception" not in out, out
    line = _one_line("\n".join(ln for ln in out.splitlines() if "loadsim: error" in ln))
    assert line.startswith(f"loadsim: error: --host {host}: "), line
    assert (
        ("Connection refused" in line)
        if host.startswith("http")
        else ("not an http(s) URL" in line)
    )
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
