"""The target's route map (docs/ARCHITECTURE.md, HTTP contract): ``[routes]`` of the owner's map
file, validated before a run — every bad key is one line naming the file and the key."""

from __future__ import annotations

import pytest

from db.errors import ConfigError
from harness.config.routes import DEFAULT_ROUTES, ROUTES, RouteMap, build_routes, load_routes


def _write(tmp_path, body: str):
    p = tmp_path / "loadsim.toml"
    p.write_text(body)
    return p


def test_defaults_are_the_contract_paths():
    rm = RouteMap()
    assert rm.path("cart_add") == "/api/cart/add"
    assert rm.path("view_coupon", 17) == "/api/offers/17/view"
    assert rm.path("refresh_user", 5) == "/refresh/user/5"
    assert set(DEFAULT_ROUTES) >= {"health", "time_advance", "cycles", "refresh_user", "checkout"}
    assert not rm.custom


def test_a_file_overrides_some_paths_and_keeps_the_rest(tmp_path):
    p = _write(
        tmp_path,
        '[db.map]\napp_schema = "public"\n\n[routes]\ncart_add = "/v1/basket/items"\n'
        'view_coupon = "/v1/wallet/{id}/seen"\nrefresh_user = ""\n',
    )
    rm = load_routes(p)
    assert rm.path("cart_add") == "/v1/basket/items"
    assert rm.path("view_coupon", 3) == "/v1/wallet/3/seen"
    assert not rm.has("refresh_user") and rm.has("cycles")
    assert rm.path("checkout") == "/api/orders/checkout"
    assert rm.custom and rm.source == str(p)
    assert RouteMap.from_dict(rm.to_dict()).paths == rm.paths


def test_the_file_is_found_through_LOADSIM_MAP(tmp_path, monkeypatch):
    p = _write(tmp_path, '[routes]\nhealth = "/healthz"\n')
    monkeypatch.delenv("LOADSIM_MAP", raising=False)
    monkeypatch.delenv("LOADSIM_DB_MAP", raising=False)
    assert load_routes().path("health") == "/health"
    monkeypatch.setenv("LOADSIM_DB_MAP", str(p))
    assert load_routes().path("health") == "/healthz"
    monkeypatch.setenv("LOADSIM_MAP", str(p))
    assert load_routes().path("health") == "/healthz"


def test_a_file_without_routes_gives_the_defaults(tmp_path):
    p = _write(tmp_path, '[personas.columns]\n"Income" = "income_band"\n')
    assert load_routes(p).paths == DEFAULT_ROUTES


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('cart_ad = "/x"', r"\[routes\] cart_ad: unknown route \(did you mean 'cart_add'\?\)"),
        (
            'view_coupon = "/v1/wallet/seen"',
            r"view_coupon = .*needs exactly one \{id\} placeholder \(the user_coupon_id\); found none",
        ),
        (
            'refresh_user = "/refresh/{user_id}"',
            r"refresh_user = .*needs exactly one \{id\}.*found \{user_id\}",
        ),
        ('cart_add = "/cart/{id}"', r"cart_add = .*takes no placeholder"),
        ('checkout = "api/checkout"', r"checkout = .*must be an absolute path"),
        ('checkout = "/checkout?x=1"', r"checkout = .*must be an absolute path"),
        ('checkout = ""', r"checkout = '': every run needs this route"),
        ("checkout = 3", r"checkout = 3: must be a string path"),
        ('wallet = "/api/cart"', r"\[routes\] wallet: GET /api/cart is already the path of cart"),
    ],
)
def test_bad_routes_name_the_file_and_the_key(tmp_path, body, message):
    p = _write(tmp_path, "[routes]\n" + body + "\n")
    with pytest.raises(ConfigError, match=message) as exc:
        load_routes(p)
    assert str(exc.value).startswith(str(p))
    assert "\n" not in str(exc.value)


def test_one_path_may_serve_two_actions_on_different_methods():
    rm = build_routes({"cart": "/basket", "cart_add": "/basket"}, source="t")
    assert rm.path("cart") == rm.path("cart_add") == "/basket"


def test_missing_and_broken_files_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="map file not found"):
        load_routes(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_routes(_write(tmp_path, "[routes\n"))


def test_every_placeholder_route_says_what_id_means():
    for key, spec in ROUTES.items():
        assert ("{id}" in spec.default) == (spec.placeholder is not None), key
