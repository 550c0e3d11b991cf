"""``loadsim catalog seed`` — the synthetic stores, products and coupon pool."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("catalog", help="synthetic catalog: stores, products, coupon pool")
    csub = p.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    s = csub.add_parser(
        "seed",
        help="create/update the synthetic stores, products and coupons (deterministic, idempotent)",
    )
    s.add_argument(
        "--seed", type=int, default=None,
        help="random seed for names, prices and coupons (default: the embedded default's)",
    )  # fmt: skip
    s.set_defaults(func=_seed)


def _seed(args: argparse.Namespace) -> int:
    from harness.cli.commands.personas import open_migrated_engine
    from personas.catalog import DEFAULT_CATALOG_SEED, generate_catalog, seed_catalog

    seed = DEFAULT_CATALOG_SEED if args.seed is None else args.seed
    data = generate_catalog(seed=seed)
    engine = open_migrated_engine()
    try:
        with engine.begin() as conn:  # one transaction: the whole catalog or nothing
            stats = seed_catalog(conn, data=data)
    finally:
        engine.dispose()
    print(f"seeded the synthetic catalog (seed {seed})")
    print(stats.summary())
    return 0
