"""Rules about the suite itself (issue 13): CI cannot silently skip the browser, and every
test that starts real locust processes runs in the one ``e2e`` xdist group."""

from __future__ import annotations

import pytest

from tests import test_webui_support as support


def test_missing_chromium_skips_locally_but_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(support, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        support.require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and .*no-chromium is not installed"):
        support.require_chromium()
