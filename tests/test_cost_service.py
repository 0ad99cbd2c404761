"""Who pays for what, stored (risk/services/costs.py, docs/COSTS.md): what the services write and refuse on both
engines, the JSON door for costs, allocations, calibration and risks' prices, the withdrawal what-if, risk in money
over stored data, and the two commands."""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlmodel import Session

from risk import costs, quantify
from risk.errors import ConflictError, RefusedError
from risk.models import CostLine, Proposal, ProposalPartner
from risk.services import costs as cs
from risk.services import proposals as ps
from risk.services import quantify as qs
from risk.services.json_export import export_document
from risk.services.json_import import import_json
from risk.services.portfolio import load_demo
from tests.builders import SYSTEM, database_state

DISPATCH = "Tri-County Regional 911/CAD Consolidation"


def _pid(engine, title: str = DISPATCH) -> int:
    with Session(engine) as s:
        return s.execute(select(Proposal.id).where(Proposal.title == title)).scalar_one()


@pytest.fixture
def demo(engine):
    load_demo(engine, actor=SYSTEM)
    return engine


def test_the_demo_dispatch_centre_is_split_as_snohomish_splits_its_costs(demo):
    """The demo's chosen allocation: 54% calls for service, 23% assessed value, 23% population; the shares come
    from the pure core on the stored figures and add up to the total to the cent."""
    pid = _pid(demo)
    result = cs.allocate(demo, pid)
    assert result.method == "Blend: 54% calls 911, 23% assessed value, 23% population"
    # one-time 3,200,000 + 1,400,000 + 900,000 (the county's floor, credited), operations 6,300,000 x 5,
    # maintenance 420,000 x 4
    assert result.total == Decimal("38680000.00")
    assert sum(p.share for p in result.partners) == result.total
    model = cs.cost_model(demo, pid)
    fractions = costs.fractions_for(model.agreement().method, model.partner_figures())
    harmon = next(p for p in result.partners if p.partner == "Harmon County")
    assert abs(float(harmon.share) - fractions["Harmon County"] * 38_680_000) < 0.01
    assert harmon.credit == Decimal("900000.00") and harmon.pays == harmon.share - harmon.credit
    assert harmon.status_quo == Decimal("24250000.00") and harmon.saving == harmon.status_quo - harmon.share
    # calls 121,000 of 200,200; assessed value 21.4 of 34.0 billion; population 182,400 of 290,800
    expected = 0.54 * 121_000 / 200_200 + 0.23 * 21.4 / 34.0 + 0.23 * 182_400 / 290_800
    assert fractions["Harmon County"] == pytest.approx(expected)


def test_a_withdrawal_shows_the_split_without_the_partner_its_exit_charge_and_its_risks(demo):
    pid = _pid(demo)
    what = cs.withdrawal(demo, pid, "City of Millbrook")
    assert [p.partner for p in what.after.partners] == ["City of Brookfield", "City of Lakeview", "Harmon County"]
    assert what.exit_cost == 80_000
    assert sum(p.share for p in what.after.partners) == what.after.total
    assert all(why == "City of Millbrook owns it" for _rid, _title, why in what.risks) and what.risks
    lead = cs.withdrawal(demo, pid, "Harmon County")  # the host leaving puts every risk in question
    assert len(lead.risks) == len(ps.list_risks(demo, pid))
    with pytest.raises(RefusedError, match="does not take part"):
        cs.withdrawal(demo, pid, "Nowhere County")


def test_cost_lines_are_saved_changed_and_deleted_each_audited(engine):
    pid = ps.create_proposal(engine, actor=SYSTEM, title="Shared GIS")
    a = ps.add_partner(engine, actor=SYSTEM, name="A county", proposal_id=pid)
    b = ps.add_partner(engine, actor=SYSTEM, name="B city", proposal_id=pid)
    for partner in (a, b):
        ps.link_partner(engine, actor=SYSTEM, proposal_id=pid, partner_id=partner)
    cs.save_cost_lines(engine, actor=SYSTEM, proposal_id=pid, lines=[
        {"name": "Licences", "kind": "recurring", "amount": 1000, "years": 5},
        {"name": "Servers", "kind": "one_time", "amount": 301, "credit_partner": "A county"}])
    model = cs.cost_model(engine, pid)
    assert [(x["name"], x["first_year"], x["years"], x["credit_partner"]) for x in model.lines] == [
        ("Licences", 1, 5, None), ("Servers", 1, 1, "A county")]
    result = cs.allocate(engine, pid)  # no allocation chosen: equal shares
    assert result.total == Decimal("5301.00")
    assert [p.share for p in result.partners] == [Decimal("2650.50"), Decimal("2650.50")]
    seen = model.lines
    changed = [{**seen[0], "amount": 1200}]  # the servers line is dropped
    cs.save_cost_lines(engine, actor=SYSTEM, proposal_id=pid, lines=changed, expected=seen)
    assert [(x["name"], x["amount"]) for x in cs.cost_model(engine, pid).lines] == [("Licences", 1200)]
    from risk.services.activity import proposal_activity

    kinds = [(e.action, e.entity) for e in proposal_activity(engine, pid) if e.entity == "cost_line"]
    assert ("create", "cost_line") in kinds and ("update", "cost_line") in kinds and ("delete", "cost_line") in kinds


@pytest.fixture
def two_partners(engine):
    pid = ps.create_proposal(engine, actor=SYSTEM, title="Shared payroll")
    for name in ("Town A", "Town B"):
        ps.link_partner(engine, actor=SYSTEM, proposal_id=pid,
                        partner_id=ps.add_partner(engine, actor=SYSTEM, name=name, proposal_id=pid))
    cs.save_cost_lines(engine, actor=SYSTEM, proposal_id=pid,
                       lines=[{"name": "Payroll office", "kind": "recurring", "amount": 100_000, "years": 5}])
    return engine, pid


@pytest.mark.parametrize(("lines", "message"), [
    ([{"name": "Ok", "amount": 10}, {"name": "Bad", "amount": -5}], "cost line 2: amount: expected"),
    ([{"name": "Bad", "amount": "-5 budget cut"}], "cost line 1: amount: expected"),
    ([{"name": "", "amount": 5}], "cost line 1: name: a value is required"),
    ([{"name": "X", "amount": 5, "kind": "monthly"}], "cost line 1: kind: expected one of one_time, recurring"),
    ([{"name": "X", "amount": 5, "years": 0}], "cost line 1: years: expected a whole number from 1 to 50"),
    ([{"name": "X", "amount": 5, "credit_partner": "Town Z"}], "cost line 1: credit_partner: expected one of"),
    ([{"name": "X", "amount": 5, "id": 999_999}], "cost line 1: id: 999999 is not a cost line"),
])
def test_a_bad_cost_line_is_refused_naming_the_line_and_field_and_nothing_changes(two_partners, lines, message):
    engine, pid = two_partners
    before = database_state(engine)
    with pytest.raises(RefusedError, match=message):
        cs.save_cost_lines(engine, actor=SYSTEM, proposal_id=pid, lines=lines)
    assert database_state(engine) == before


def test_a_second_persons_stale_save_of_the_cost_lines_is_refused_not_overwriting(two_partners):
    engine, pid = two_partners
    seen = cs.cost_model(engine, pid).lines  # both opened the page
    cs.save_cost_lines(engine, actor=SYSTEM, proposal_id=pid, expected=seen,
                       lines=[{**seen[0], "amount": 120_000}])
    before = database_state(engine)
    with pytest.raises(ConflictError, match="changed by somebody else"):
        cs.save_cost_lines(engine, actor=SYSTEM, proposal_id=pid, expected=seen,
                           lines=[*seen, {"name": "Training", "amount": 5_000}])
    assert database_state(engine) == before
    assert [x["amount"] for x in cs.cost_model(engine, pid).lines] == [120_000]


def test_partner_figures_go_to_the_government_or_to_its_part_in_the_proposal(two_partners):
    engine, pid = two_partners
    a = cs.cost_model(engine, pid).partners[0]
    cs.set_partner_figures(engine, actor=SYSTEM, proposal_id=pid, partner_id=a.partner_id, population=12_000,
                           assessed_value=1.5e9, status_quo_cost=70_000, drivers={"employees": 120},
                           exit_cost=10_000)
    row = cs.cost_model(engine, pid).partners[0]
    assert (row.population, row.assessed_value, row.status_quo_cost, row.drivers, row.exit_cost) == (
        12_000, 1.5e9, 70_000, {"employees": 120}, 10_000)
    with Session(engine) as s:
        link = s.execute(select(ProposalPartner).where(ProposalPartner.partner_id == a.partner_id)).scalar_one()
        assert link.status_quo_cost == 70_000 and link.drivers == {"employees": 120}
    before = database_state(engine)
    for bad, message in (({"status_quo_cost": -1}, "status_quo_cost: expected an amount of at least 0"),
                         ({"drivers": {"employees": -3}}, "drivers: expected names with numbers"),
                         ({"population": 2.5}, "population: expected a whole number")):
        with pytest.raises(RefusedError, match=message):
            cs.set_partner_figures(engine, actor=SYSTEM, proposal_id=pid, partner_id=a.partner_id, **bad)
    assert database_state(engine) == before


def test_an_allocation_is_recorded_with_its_rationale_and_checked_against_the_partners(two_partners):
    engine, pid = two_partners
    version = cs.cost_model(engine, pid).version
    before = database_state(engine)
    for allocation, rationale, message in (
            ({"method": "equal"}, " ", "rationale: a value is required"),
            ({"method": "fixed", "percentages": {"Town A": 60, "Town B": 30}}, "why", "100"),
            ({"method": "fixed", "percentages": {"Town A": 60, "Town Z": 40}}, "why", "Town Z"),
            ({"method": "blend", "weights": {"population": 0.5, "equal": 0.4}}, "why", "add up to 1"),
            ({"method": "tithe"}, "why", "tithe"),
            ({"method": "equal", "floors": {"Town A": 70}, "caps": {"Town A": 60}}, "why", "Town A")):
        with pytest.raises(RefusedError, match=message):
            cs.choose_allocation(engine, actor=SYSTEM, proposal_id=pid, allocation=allocation,
                                 rationale=rationale, expected_version=version)
    assert database_state(engine) == before
    cs.choose_allocation(engine, actor=SYSTEM, proposal_id=pid, rationale="What each town's council agreed",
                         allocation={"method": "fixed", "percentages": {"Town A": 60, "Town B": 40}},
                         expected_version=version, currency="cad", cost_horizon=4)
    model = cs.cost_model(engine, pid)
    assert model.currency == "CAD" and model.horizon == 4
    assert model.allocation["rationale"] == "What each town's council agreed"
    assert model.allocation["chosen_by"] == SYSTEM and model.allocation["chosen_at"]
    result = cs.allocate(engine, pid)
    assert [(p.partner, p.share) for p in result.partners] == [("Town A", Decimal("240000.00")),
                                                               ("Town B", Decimal("160000.00"))]
    with pytest.raises(ConflictError):  # somebody recorded one since that screen was opened
        cs.choose_allocation(engine, actor=SYSTEM, proposal_id=pid, allocation={"method": "equal"},
                             rationale="Equal after all", expected_version=version)


def test_a_risks_price_is_all_three_figures_or_none_at_every_door(two_partners):
    engine, pid = two_partners
    rpk = ps.add_risk(engine, actor=SYSTEM, proposal_id=pid, category="financial", title="Overrun")
    risk = ps.list_risks(engine, pid)[0]
    with pytest.raises(RefusedError, match="loss_low: a risk's price needs all three"):
        ps.update_risk(engine, actor=SYSTEM, risk_pk=rpk, expected_version=risk.version, frequency=0.5)
    with pytest.raises(RefusedError, match="loss_high: expected more than loss_low"):
        ps.update_risk(engine, actor=SYSTEM, risk_pk=rpk, expected_version=risk.version, frequency=0.5,
                       loss_low=9_000, loss_high=1_000)
    ps.update_risk(engine, actor=SYSTEM, risk_pk=rpk, expected_version=risk.version, frequency=0.1,
                   loss_low=100_000, loss_high=1_000_000)
    priced = qs.priced_risks(engine, pid)
    assert [(f.risk_id, f.derived) for f in priced.residual] == [("FIN-01", False)]
    assert priced.residual[0].expected_annual_loss == pytest.approx(40_400.128, abs=0.01)
    # its losses split among the partners by the cost shares (equal: no allocation chosen)
    assert dict(priced.residual[0].partner_weights) == {"Town A": 0.5, "Town B": 0.5}


def test_risk_in_money_over_the_demo_prices_own_figures_and_levels_and_splits_by_partner(demo):
    pid = _pid(demo)
    priced, simulation = qs.simulate(demo, pid, iterations=50_000, seed=7)
    own = {f.risk_id for f in priced.residual if not f.derived}
    assert own == {"CYB-01", "OPS-02"}  # data/demo.yaml gives those two their own figures
    assert not priced.unpriced  # the suggested calibration prices every level of the NIST matrix
    cyb = next(r for r in simulation.risks if r.risk_id == "CYB-01")
    closed = quantify.expected_annual_loss(0.15, 250_000, 4_000_000)
    assert abs(cyb.eal - closed) < 4 * cyb.mean_se
    assert sum(p.eal for p in simulation.partners) == pytest.approx(simulation.proposal.eal, rel=1e-9)
    again = qs.simulate(demo, pid, iterations=50_000, seed=7)[1]
    assert again.to_json() == simulation.to_json()


def test_without_a_calibration_table_risks_with_no_figures_are_listed_as_not_priced(two_partners):
    engine, pid = two_partners
    ps.add_risk(engine, actor=SYSTEM, proposal_id=pid, category="legal", title="No agreement")
    priced = qs.priced_risks(engine, pid)
    assert priced.residual == [] and priced.unpriced == ["LEG-01"]


# --- the JSON door -------------------------------------------------------------------------------------------

def _dispatch(doc: dict) -> dict:
    return next(p for p in doc["proposals"] if p["title"] == DISPATCH)


def test_the_json_export_carries_costs_allocation_calibration_and_prices_and_imports_back(demo):
    doc = export_document(demo, [_pid(demo)])
    p = _dispatch(doc)
    assert p["currency"] == "USD" and p["cost_horizon"] == 5 and len(p["costs"]) == 5
    assert p["allocation"]["method"] == "blend" and p["allocation"]["rationale"]
    assert p["calibration"]["Very High"] == [3.0, 1_000_000.0, 10_000_000.0]
    harmon = next(x for x in p["partners"] if x["name"] == "Harmon County")
    assert (harmon["assessed_value"], harmon["status_quo_cost"], harmon["exit_cost"]) == (21.4e9, 4_850_000, 600_000)
    cyb = next(r for r in p["risks"] if r["risk_id"] == "CYB-01")
    assert (cyb["frequency"], cyb["loss_low"], cyb["loss_high"]) == (0.15, 250_000, 4_000_000)
    import_json(demo, json.dumps(doc).encode(), actor=SYSTEM, new_title="The copy")
    copy_id = _pid(demo, "The copy")
    again = _dispatch({"proposals": [{**x, "title": DISPATCH} for x in export_document(demo, [copy_id])["proposals"]]})
    for key in ("currency", "cost_horizon", "costs", "allocation", "calibration", "partners"):
        assert again[key] == p[key], key
    assert [(r["risk_id"], r["frequency"], r["loss_low"], r["loss_high"]) for r in again["risks"]] == \
        [(r["risk_id"], r["frequency"], r["loss_low"], r["loss_high"]) for r in p["risks"]]
    assert cs.allocate(demo, copy_id).to_json() == cs.allocate(demo, _pid(demo)).to_json()


def _bad(change) -> bytes:
    def apply(doc: dict) -> bytes:
        doc = copy.deepcopy(doc)
        change(_dispatch(doc))
        return json.dumps(doc).encode()
    return apply


BAD_FILES = [
    (lambda p: p["costs"][1].update(amount=-5000), "cost 2: amount: expected an amount of at least 0, got -5000"),
    (lambda p: p["costs"][0].update(kind="monthly"), "cost 1: kind: expected one of one_time, recurring"),
    (lambda p: p["costs"][2].update(credit_partner="Elsewhere County"), "cost 3: credit_partner: expected one of"),
    (lambda p: p["costs"].append("a string"), "cost 6: expected an object"),
    (lambda p: p.update(costs={"name": "x"}), "costs: expected a list"),
    (lambda p: p["allocation"]["weights"].update(population=0.5), "allocation: .*add up to 1"),
    (lambda p: p["allocation"].update(method="fixed", percentages={"Harmon County": 100, "Nobody": 0}),
     "allocation: .*Nobody"),
    (lambda p: p["allocation"].update(floors={"Harmon County": 80}, caps={"Harmon County": 70}), "allocation"),
    (lambda p: p.update(allocation=["blend"]), "allocation: expected an allocation"),
    (lambda p: p["calibration"].update(High=[1, 500, 100]), "calibration: calibration level 'High'"),
    (lambda p: p.update(currency="dollars"), "currency: expected a three-letter currency code"),
    (lambda p: p.update(cost_horizon=0), "cost_horizon: expected a whole number from 1 to 50"),
    (lambda p: next(x for x in p["partners"] if x["name"] == "City of Lakeview").update(status_quo_cost=-1),
     "partner 3: status_quo_cost: expected an amount of at least 0"),
    (lambda p: p["partners"][0].update(drivers={"calls": "many"}), "partner 1: drivers: expected names with numbers"),
    (lambda p: next(r for r in p["risks"] if r["risk_id"] == "CYB-01").update(loss_high=None),
     "risk CYB-01: loss_high: a risk's price needs all three"),
    (lambda p: next(r for r in p["risks"] if r["risk_id"] == "CYB-01").update(frequency=True),
     "risk CYB-01: frequency: expected an amount"),
]


@pytest.mark.parametrize(("change", "message"), BAD_FILES)
def test_a_bad_cost_figure_in_a_json_file_is_refused_naming_it_and_nothing_is_written(demo, change, message):
    data = _bad(change)(export_document(demo, [_pid(demo)]))
    before = database_state(demo)
    for dry_run in (True, False):  # the dry run checks what the import checks
        report = import_json(demo, data, actor=SYSTEM, new_title="Refused copy", dry_run=dry_run)
        assert len(report["problems"]) == 1 and report["proposal_ids"] == []
        assert re.search(message, report["problems"][0]["message"]), report["problems"]
        assert report["problems"][0]["message"].startswith("proposal 1 (")  # the place: proposal, row, field
    assert database_state(demo) == before


def test_an_export_from_before_costs_imports_with_empty_costs(demo):
    doc = export_document(demo, [_pid(demo)])
    p = _dispatch(doc)
    for key in ("costs", "allocation", "calibration", "currency", "cost_horizon"):
        p.pop(key)
    for x in p["partners"]:
        for key in ("assessed_value", "status_quo_cost", "drivers", "exit_cost"):
            x.pop(key)
    for r in p["risks"]:
        for key in ("frequency", "loss_low", "loss_high"):
            r.pop(key)
    import_json(demo, json.dumps(doc).encode(), actor=SYSTEM, new_title="Older file")
    model = cs.cost_model(demo, _pid(demo, "Older file"))
    assert model.lines == [] and model.allocation == {} and model.currency == "USD" and model.horizon == 5
    with Session(demo) as s:
        assert s.execute(select(CostLine).where(CostLine.proposal_id == model.proposal_id)).first() is None


# --- the commands --------------------------------------------------------------------------------------------

def test_risk_costs_allocate_prints_the_shares_as_json_and_refuses_in_words(cli):
    assert cli("demo").exit_code == 0
    out = cli("costs", "allocate", "--proposal", "1", "--format", "json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert set(data) >= {"method", "total", "partners", "years"}
    assert set(data["partners"][0]) >= {"partner", "share", "share_pct", "status_quo", "saving"}
    assert round(sum(p["share"] for p in data["partners"]), 2) == data["total"]
    assert all(round(sum(x["amount"] for x in y["partners"]), 2) == y["total"] for y in data["years"])
    for p in data["partners"]:
        assert round(p["status_quo"] - p["share"], 2) == p["saving"]
    blend = json.loads(cli("costs", "allocate", "--proposal", "1", "--method", "blend", "--weight",
                           "driver:calls_911=0.54", "--weight", "assessed_value=0.23", "--weight", "population=0.23",
                           "--format", "json").stdout)
    assert blend["partners"] == data["partners"]  # the demo chose exactly that blend
    pop = json.loads(cli("costs", "allocate", "--proposal", "1", "--method", "population", "--without",
                         "City of Millbrook", "--format", "json").stdout)
    assert [p["partner"] for p in pop["partners"]] == ["City of Brookfield", "City of Lakeview", "Harmon County"]
    assert pop["exit_cost"] == 80_000
    bad = cli("costs", "allocate", "--proposal", "1", "--method", "blend", "--weight", "population=0.7")
    assert bad.exit_code == 1 and "add up to 1" in bad.output and "Traceback" not in bad.output
    missing = cli("costs", "allocate", "--proposal", "99")
    assert missing.exit_code == 1 and "proposal 99 does not exist" in missing.output


def test_risk_quantify_prints_the_simulation_as_json(cli):
    assert cli("demo").exit_code == 0
    out = cli("quantify", "--proposal", "1", "--iterations", "20000", "--seed", "3", "--format", "json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["iterations"] == 20_000 and data["seed"] == 3
    assert set(data["risks"][0]) >= {"risk_id", "frequency", "loss_low", "loss_high", "eal", "p50", "p90", "p95",
                                     "p99"}
    assert set(data["proposal"]) >= {"eal", "p90", "p95", "p99"} and data["partners"]
    assert "100%" in out.stderr  # progress on standard error
    again = json.loads(cli("quantify", "--proposal", "1", "--iterations", "20000", "--seed", "3",
                           "--format", "json").stdout)
    assert again == data


def test_a_stale_save_of_a_partners_figures_is_refused(two_partners):
    engine, pid = two_partners
    a = cs.cost_model(engine, pid).partners[0]
    cs.set_partner_figures(engine, actor=SYSTEM, proposal_id=pid, partner_id=a.partner_id, status_quo_cost=70_000,
                           expected={"status_quo_cost": None})
    before = database_state(engine)
    with pytest.raises(ConflictError, match="Town A, status_quo_cost: somebody saved 70000.0"):
        cs.set_partner_figures(engine, actor=SYSTEM, proposal_id=pid, partner_id=a.partner_id,
                               status_quo_cost=50_000, expected={"status_quo_cost": None})
    assert database_state(engine) == before
    # the same value sent twice (a double click) is no conflict
    cs.set_partner_figures(engine, actor=SYSTEM, proposal_id=pid, partner_id=a.partner_id, status_quo_cost=70_000,
                           expected={"status_quo_cost": None})
