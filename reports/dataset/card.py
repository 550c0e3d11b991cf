"""``dataset/README.md``: the data card — how the rows were made, what they are not, the
counts, the splits, and the run's realism scores when they were computed."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from reports.dataset import schema as S
from reports.dataset.split import FRACTIONS, Provenance


def _v(x: Any) -> str:
    return "—" if x in (None, "", [], {}) else str(x)


def _realism(run_dir: Path) -> list[dict[str, str]] | None:
    """The rows of a ``realism.csv`` written for this run (``loadsim realism RUN -o
    runs/RUN/realism``), if any."""
    for path in sorted(run_dir.glob("**/realism.csv")):
        if any(part.startswith(".dataset") or part == "dataset" for part in path.parts):
            continue
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    return None


def _arms(result: Any, data_dir: Path) -> str:
    import pyarrow.parquet as pq

    if S.ARM.name not in result.columns.get("sessions", []):
        return "none (the run had no experiment arms)"
    t = pq.read_table(data_dir / "sessions.parquet", columns=["arm"])
    counts = [c for c in t.column("arm").value_counts().to_pylist() if c["values"] is not None]
    return ", ".join(f"{c['values']} ({c['counts']} sessions)" for c in counts) or (
        "none (no session of the run had an arm)"
    )


def write_card(
    path: Path, *, result: Any, manifest: dict[str, Any], prov: Provenance, run_dir: Path
) -> None:
    """Write the data card to ``path``."""
    m = manifest
    opts = m.get("options") or {}
    segs = m.get("segments") or []
    scales = sorted({s.get("time_scale") for s in segs if s.get("time_scale")}) or [
        m.get("time_scale")
    ]
    lines = [
        f"# Dataset of run `{m.get('run_id', run_dir.name)}`",
        "",
        "Synthetic shopping behaviour produced by the VoiceOffers load-and-behavior "
        "harness: simulated customers (personas) driven by the harness's rules on a "
        "simulated clock against a shop API over Postgres. Written from the run's "
        "database by `loadsim dataset` (also at the end of every run).",
        "",
        "## How it was made",
        "",
        f"- code version: `{_v(m.get('code_version'))}`",
        f"- seed: {_v(m.get('seed'))}",
        f"- time scale: {', '.join(f'{x}x' for x in scales if x)} (simulated seconds per "
        "real second)",
        f"- simulated period: {_v(m.get('sim_start'))} → {_v(m.get('sim_end'))} "
        f"({_v(m.get('sim_duration_hours'))} h planned), status {_v(m.get('status'))}",
        f"- ramp (hour:percent of personas): {_v(m.get('ramp'))}",
        f"- processes: {_v(m.get('processes'))}; target: {_v(m.get('target'))}",
        f"- offer engine: {_v(opts.get('offer_engine')) if opts.get('offer_engine') else 'decided from what the target reports (local or the target’s own)'}",  # noqa: E501
        f"- experiment arms: {_arms(result, path.parent)}",
        f"- personas: {_v(m.get('persona_file'))} (sha256 "
        f"{_v((m.get('persona_file_sha256') or '')[:12])}…, {_v(m.get('personas_total'))} "
        "in the pool)",
    ]
    if prov.meta:
        meta = prov.meta
        lines += [
            f"- persona provenance: derived by `loadsim personas derive` from "
            f"{_v(meta.get('source'))} (seed {_v(meta.get('seed'))}, "
            f"{_v(meta.get('households'))} personas from the derive half of "
            f"{_v(meta.get('derive_households'))} households; "
            f"{_v(meta.get('holdout_households'))} households held out, period "
            f"{_v(meta.get('period'))}). Each attribute's source is in the personas' "
            "`source_*` columns.",
        ]
    else:
        lines.append(
            "- persona provenance: none recorded ("
            + ("; ".join(prov.notes) or "not a derived workbook")
            + "): the personas are the generated sample or hand-written."
        )
    lines += [
        "",
        "## What it is not",
        "",
        "- Not real customers: every persona is synthetic. Names, cities and occupations "
        "are invented; demographics are sampled or estimated from aggregate shopping data, "
        "never copied from a person.",
        "- One run covers only its simulated period; seasonality beyond it is absent.",
        "- Behaviour follows the harness's rules (`behaviors/`): columns with role "
        "`generator` are those rules' inputs and the personas' settings. A model trained "
        "on them learns the simulator. Rows with `decision`/`outcome` `missed` or "
        "`failed` are the harness's or the API's failures, not behaviour.",
        "",
        "## Files",
        "",
        "| file | rows | columns | observable | context | generator |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    from reports.dataset.write import _cols_of

    for name in S.FILES:
        cols = result.columns.get(name, [])
        cat = _cols_of(name, result)
        roles = [cat[c].role for c in cols]
        lines.append(
            f"| {name}.parquet | {result.counts.get(name, 0)} | {len(cols)} | "
            f"{roles.count(S.OBSERVABLE)} | {roles.count(S.CONTEXT)} | "
            f"{roles.count(S.GENERATOR)} |"
        )
    lines += [
        "",
        "Every column's type, unit, meaning and role: `schema.json`. "
        + (
            "Generator columns are included."
            if result.generator
            else "Generator columns were left out (`--no-generator`)."
        ),
        "`agent_hours.parquet` holds every agent-hour of the run — the hours without a "
        "visit (`decision` = `none`) are the negatives of *does this customer shop this "
        "hour?*. Orders carry their lines in the nested `lines` column.",
        "",
        "## Splits",
        "",
    ]
    if result.split == "persona":
        tr, va, te = (int(f * 100) for f in FRACTIONS)
        lines.append(
            f"`split` by persona ({tr}/{va}/{te} train/validation/test by a hash of the "
            "persona id with a fixed salt): no persona is in two splits, and a persona "
            "has the same split in every run, so several runs' datasets can be pooled."
        )
        if prov.household_split:
            held = sum(1 for s in prov.household_split.values() if s == "holdout")
            n_held = sum(1 for pid in prov.household_of if prov.held_out(pid))
            lines.append(
                f"Personas derived from a held-out household go to test ({n_held} here). "
                f"`personas derive` draws personas from the derive half only, so the {held} "
                "held-out households normally have no persona: they are the real "
                "reference `loadsim realism` scores this run against."
            )
    else:
        lines.append(
            "`split` by simulated time: the first hours train, the last test (see the "
            "note below); personas carry no split (a persona appears in both periods)."
        )
    lines += ["", "| file | " + " | ".join(["train", "validation", "test"]) + " |"]
    lines.append("|---|---:|---:|---:|")
    for name in S.FILES:
        c = result.split_counts.get(name, {})
        lines.append(f"| {name} | {c.get('train', 0)} | {c.get('validation', 0)} | "
                     f"{c.get('test', 0)} |")  # fmt: skip
    lines += ["", "## Realism", ""]
    rows = _realism(run_dir)
    if rows:
        lines += ["| statistic | score | simulated | real |", "|---|---:|---:|---:|"]
        lines += [
            f"| {r.get('statistic')} | {r.get('score')} | {r.get('sim_mean')} | "
            f"{r.get('real_mean')} |"
            for r in rows
        ]
    else:
        lines.append(
            "Not computed for this run (`loadsim realism RUN -o runs/RUN/realism` scores "
            "it against held-out real households; rebuild the dataset afterwards to "
            "include the scores here)."
        )
    lines += ["", "## Notes", ""]
    lines += [f"- {n}" for n in result.notes] or ["- none"]
    lines += [
        "",
        "## Loading",
        "",
        "```python",
        "import pandas as pd",
        'hours = pd.read_parquet("agent_hours.parquet")',
        'train = hours[(hours.split == "train") & (hours.decision != "missed")]',
        "```",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
