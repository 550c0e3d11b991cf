"""``db.redact``: the one function that hides credentials, and the places that write text
(the run directory's JSON and log, the report's manifest, connection errors) using it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import make_url

from db.redact import redact, redact_data, redact_text, redact_value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a password with an unencoded @: hidden up to the last @ before the host
        ("postgresql://u:p@ss@db.example:5432/app", "postgresql://u:***@db.example:5432/app"),
        ("postgresql://u:a@b@c@db/app", "postgresql://u:***@db/app"),
        # an empty user name
        ("postgresql://:s3cret@db/app", "postgresql://:***@db/app"),
        # the password as a query parameter, first or later, any case
        (
            "postgresql://u@db/app?password=s3cret&sslmode=require",
            "postgresql://u@db/app?password=***&sslmode=require",
        ),
        (
            "postgresql://u@db/app?sslmode=require&PassWord=s3cret",
            "postgresql://u@db/app?sslmode=require&PassWord=***",
        ),
        # a libpq keyword string, plain and quoted
        ("host=db password=s3cret dbname=app", "host=db password=*** dbname=app"),
        ("host=db password='a b\\'c' dbname=app", "host=db password=*** dbname=app"),
        # an unencoded / in the password
        ("postgresql://u:pa/ss@db/app", "postgresql://u:***@db/app"),
        # both at once
        ("postgresql://u:one@db/app?password=two", "postgresql://u:***@db/app?password=***"),
    ],
)
def test_every_credential_is_hidden_and_the_rest_kept(text, expected):
    assert redact_text(text) == expected
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "http://127.0.0.1:8089/simulation?tab=simulation",
        "http://127.0.0.1:8000/offers?email=a@b.example",  # an @ in the query is not a password
        "postgresql://loadsim@/loadsim?host=/tmp/pg",  # the embedded default: no password
        "GET /health 200 from user@host",
        "the password was refused for user app",
    ],
)
def test_text_without_credentials_is_unchanged(text):
    assert redact_text(text) == text


def test_free_text_hides_only_the_credentials_of_each_url():
    line = "copy from postgresql://a:pw1@h1/db to postgresql://b:pw2@h2/db, mail ops@example.org"
    assert redact_text(line) == (
        "copy from postgresql://a:***@h1/db to postgresql://b:***@h2/db, mail ops@example.org"
    )


def test_a_known_urls_password_is_hidden_wherever_a_driver_quotes_it():
    url = "postgresql://app:p%40ss word@db/app"  # encoded @, and a space the driver decodes
    msg = 'FATAL: password "p@ss word" refused; raw p%40ss word'
    out = redact_text(msg, url)
    assert "p@ss" not in out and "p%40ss" not in out and out.count("***") == 2


def test_sqlalchemy_urls_hide_user_and_query_passwords():
    url = make_url("postgresql+psycopg://u:p%40ss@db:5432/app?password=q2&sslmode=require")
    out = redact(url)
    assert "p%40ss" not in out and "p@ss" not in out and "q2" not in out
    assert out.startswith("postgresql+psycopg://u:***@db:5432/app?")
    assert "sslmode=require" in out
    assert redact(None) == "<embedded>"


def test_values_by_key_and_nested_data():
    assert redact_value("api_token", "abc") == "***"
    assert redact_value("DB_PASSWORD", 1234) == "***"
    assert redact_value("database_url", "postgresql://u@h/db?password=x") == (
        "postgresql://u@h/db?password=***"
    )
    assert redact_value("users", 40) == 40
    data = {"a": ['postgresql://u:p"q@h/db', {"b": "host=h password=z"}], "n": 3}
    assert redact_data(data) == {
        "a": ["postgresql://u:***@h/db", {"b": "host=h password=***"}],
        "n": 3,
    }


def test_the_run_directory_json_and_log_hide_a_password_with_a_quote_and_an_at(tmp_path):
    from harness.outputs.run_files import write_json_atomic

    url = 'postgresql://app:x"y@z@db/app?password=q"2'
    path = tmp_path / "manifest.json"
    write_json_atomic(path, {"database_url": url, "options": {"dsn": url}})
    text = path.read_text()
    assert 'x\\"y' not in text and "y@z" not in text and 'q\\"2' not in text
    assert json.loads(text)["database_url"] == "postgresql://app:***@db/app?password=***"


def test_the_reports_manifest_uses_the_same_redaction():
    from reports.summary import redact_value as report_redact

    assert report_redact("database_url", "postgresql://u@h/db?password=s3cret") == (
        "postgresql://u@h/db?password=***"
    )
    assert report_redact("target", "postgresql://:s3cret@h/db") == "postgresql://:***@h/db"
