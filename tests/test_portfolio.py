"""The demo and synthetic portfolios: what they hold follows docs/SCORING.md, loading twice adds nothing, the same
seed gives the same data, and eight loads at once store what the same loads store one after another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from risk import scoring
from risk.models import Proposal, Score
from risk.services.json_export import export_document
from risk.services.matrices import load_matrix
from risk.services.portfolio import load_demo, load_synthetic
from risk.store import count_rows, verify_chain
from tests.builders import SYSTEM

RISK = str(Path(sys.executable).with_name("risk"))
VOLATILE = {"id", "exported_at", "created_at", "updated_at", "opened_at", "revealed_at", "closed_at",
            "recorded_at", "next_review"}


def normalised(doc: dict) -> list[dict]:
    """The export without ids and timestamps, proposals in title order: what must match between loads."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return sorted((strip(p) for p in doc["proposals"]), key=lambda p: p["title"])


def check_against_domain_rules(engine, doc: dict) -> int:
    """Recompute every standing value from the exported raw scores with the rules of docs/SCORING.md
    (not through the stored round results) and compare; returns how many values were checked."""
    checked = 0
    for p in doc["proposals"]:
        matrix = load_matrix(engine, p["matrix"])
        partner_of = {m["name"]: m["partner"] for m in p["team"]}
        for risk in p["risks"]:
            by_round = defaultdict(list)
            for s in risk["scores"]:
                by_round[(s["phase"], s["round"])].append(s)
            consensus = {c["phase"]: c for c in risk["consensus"]}
            for phase in ("inherent", "residual"):
                rounds = sorted(n for ph, n in by_round if ph == phase)
                got = risk[phase]
                if not rounds and phase not in consensus:
                    assert got == {"likelihood": None, "impact": None, "level": None, "source": "none", "flags": []}
                    continue
                scores = by_round[(phase, rounds[-1])] if rounds else []
                liks = [s["likelihood"] for s in scores]
                imps = [s["impact"] for s in scores]
                partners = [partner_of[s["assessor"]] for s in scores]
                flags = scoring.disagreement_flags(liks, imps, partners) if scores else []
                if phase in consensus:
                    lik, imp, source = consensus[phase]["likelihood"], consensus[phase]["impact"], "consensus"
                else:
                    lik = scoring.aggregate(liks, partners, p["aggregation"])
                    imp = scoring.aggregate(imps, partners, p["aggregation"])
                    source = "aggregate"
                expected = {"likelihood": lik, "impact": imp, "level": matrix.level(lik, imp), "source": source,
                            "flags": flags}
                assert got == expected, (p["title"], risk["risk_id"], phase)
                tolerance = scoring.appetite_tolerance(risk["appetite"])
                if phase == "residual":
                    over = matrix.rank5(matrix.levels.index(got["level"])) > tolerance
                    assert risk["over_appetite"] is over
                checked += 1
    return checked


def test_demo_holds_three_realistic_proposals_whose_values_follow_the_rules(engine):
    result = load_demo(engine, actor=SYSTEM)
    assert result.loaded and len(result.proposal_ids) == 3
    doc = export_document(engine)
    assert len(doc["proposals"]) == 3
    for p in doc["proposals"]:
        assessors = [m for m in p["team"] if m["team_role"] == "assessor"]
        assert len(assessors) >= 5 and len({m["partner"] for m in assessors}) >= 3, p["title"]
        assert all(x["population"] and x["it_budget"] for x in p["partners"])
        assert {r["category"] for r in p["risks"]} >= set(scoring.CORE_CATEGORIES)
        assert any(r["template_id"] for r in p["risks"]) and any(not r["template_id"] for r in p["risks"])
        assert sorted((r["phase"], r["number"], r["status"]) for r in p["rounds"]) == [
            ("inherent", 1, "closed"), ("inherent", 2, "closed"), ("residual", 1, "closed")]
        assert any(r["inherent"]["flags"] for r in p["risks"]), "no disagreement at all"
        assert any(not r["inherent"]["flags"] for r in p["risks"]), "no agreement at all"
        assert any(r["consensus"] for r in p["risks"])
        actions = [a for r in p["risks"] for a in r["actions"]]
        assert actions and all(a["owner"] and a["due_date"] for a in actions)
        assert set(p["appetite"]) >= set(scoring.CORE_CATEGORIES)
    assert check_against_domain_rules(engine, doc) > 80
    assert verify_chain(engine) > 0


def test_demo_strengths_name_a_best_placed_partner_for_each_capability(sqlite_engine):
    from risk.services.strengths import proposal_strengths
    from risk.strengths import CAPABILITIES

    load_demo(sqlite_engine, actor=SYSTEM)
    grid = proposal_strengths(sqlite_engine, 1)
    assert set(grid.scores) == {"Harmon County", "City of Brookfield", "City of Lakeview", "City of Millbrook"}
    assert grid.best["Data centre"] == ["Harmon County"]
    assert grid.best["GIS"] == ["City of Lakeview"]
    assert set(grid.best) >= set(CAPABILITIES)


def test_loading_the_demo_twice_adds_nothing(sqlite_engine):
    load_demo(sqlite_engine, actor=SYSTEM)
    scores = count_rows(sqlite_engine, Score)
    again = load_demo(sqlite_engine, actor=SYSTEM)
    assert not again.loaded and again.proposal_ids == [1, 2, 3]
    assert count_rows(sqlite_engine, Score) == scores and count_rows(sqlite_engine, Proposal) == 3


@pytest.mark.slow
def test_demo_command_says_when_the_demo_is_already_there(sqlite_url):
    env = {**os.environ, "RISK_DATABASE_URL": sqlite_url}
    first = subprocess.run([RISK, "demo"], capture_output=True, text=True, env=env, timeout=120)
    second = subprocess.run([RISK, "demo"], capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0 and "loaded the demo portfolio: 3 proposals" in first.stderr
    assert second.returncode == 0 and "already there" in second.stderr


def test_synthetic_portfolio_with_an_even_panel_follows_the_rules(engine):
    load_synthetic(engine, actor=SYSTEM, proposals=6, risks=12, assessors=4, seed=11)
    doc = export_document(engine)
    assert len(doc["proposals"]) == 6
    assert all(len(r["scores"]) == 8 for p in doc["proposals"] for r in p["risks"])  # 4 assessors x 2 phases
    assert check_against_domain_rules(engine, doc) == 6 * 12 * 2
    flags = Counter(f for p in doc["proposals"] for r in p["risks"] for f in r["inherent"]["flags"])
    assert flags, "a plausible synthetic panel disagrees on some risks"


def test_the_same_seed_gives_the_same_data(tmp_path):
    from risk.db import make_engine, migrate

    docs = []
    for name in ("a", "b"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        migrate(engine)
        load_synthetic(engine, actor=SYSTEM, proposals=3, risks=10, assessors=5, seed=42)
        docs.append(normalised(export_document(engine)))
        engine.dispose()
    assert docs[0] == docs[1]


def test_loading_the_same_seed_again_adds_nothing(sqlite_engine):
    load_synthetic(sqlite_engine, actor=SYSTEM, proposals=2, risks=5, assessors=3, seed=5)
    again = load_synthetic(sqlite_engine, actor=SYSTEM, proposals=2, risks=5, assessors=3, seed=5)
    assert not again.loaded and count_rows(sqlite_engine, Proposal) == 2


@pytest.mark.slow
def test_eight_synthetic_loads_at_once_store_what_they_store_one_after_another(tmp_path):
    seeds = range(101, 109)
    args = ["--proposals", "6", "--risks", "15", "--assessors", "6"]

    def command(url: str, seed: int) -> tuple[list[str], dict]:
        return [RISK, "demo", "--synthetic", *args, "--seed", str(seed)], {**os.environ, "RISK_DATABASE_URL": url}

    together = f"sqlite:///{tmp_path / 'together.db'}"
    apart = f"sqlite:///{tmp_path / 'apart.db'}"
    for url in (together, apart):
        subprocess.run([RISK, "init"], check=True, capture_output=True, env={**os.environ, "RISK_DATABASE_URL": url})
    procs = [subprocess.Popen(*[command(together, s)[0]], env=command(together, s)[1], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for s in seeds]
    outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in outcomes), [err[-500:] for code, err in outcomes if code]
    for s in seeds:
        cmd, env = command(apart, s)
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)

    exports = []
    for url in (together, apart):
        out = subprocess.run([RISK, "export", "--all", "--format", "json", "-o", "-"], capture_output=True,
                             env={**os.environ, "RISK_DATABASE_URL": url}, check=True, timeout=300)
        exports.append(normalised(json.loads(out.stdout)))
        verify = subprocess.run([RISK, "audit", "verify"], capture_output=True, text=True,
                                env={**os.environ, "RISK_DATABASE_URL": url}, timeout=300)
        assert verify.returncode == 0, verify.stderr
    assert len(exports[0]) == 8 * 6
    assert exports[0] == exports[1]


@pytest.mark.parametrize("bad", [{"proposals": 0, "risks": 1, "assessors": 1}])
def test_synthetic_sizes_below_one_are_refused(sqlite_engine, bad):
    with pytest.raises(ValueError, match="at least 1"):
        load_synthetic(sqlite_engine, actor=SYSTEM, seed=1, **bad)
