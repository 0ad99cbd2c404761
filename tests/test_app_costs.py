"""AppTests of the Costs page and the Profile page's risk in money, on the demo portfolio: what the facilitator sees
and saves, what a stale or bad save is told, what a reader is not offered, and the simulation drawn with its
progress."""

from __future__ import annotations

import json
from decimal import Decimal

import streamlit
from streamlit.testing.v1 import AppTest

from risk import quantify
from risk.services import costs as cs
from risk.services import proposals as ps
from tests.signin import SYSTEM, admin_session, username_of
from tests.test_app import _walk, member_id, plain, start

COSTS = "risk/ui/pages/costs.py"
PROFILE = "risk/ui/pages/profile.py"
FACILITATORS = {1: "Dana Whitfield", 2: "Ruth Adebayo", 3: "Alan Brooks"}


def as_facilitator(engine, proposal_id: int = 1, page: str = COSTS) -> AppTest:
    """A page as the proposal's facilitator (Dana Whitfield on the demo's 911 proposal)."""
    return start(page, proposal_id=proposal_id, actor=member_id(engine, proposal_id, FACILITATORS[proposal_id]))


def specs(at: AppTest) -> dict[str, dict]:
    """The Vega-Lite specs drawn, by title."""
    found = [json.loads(e.proto.spec) for e in _walk(at.main) if type(e.proto).__name__ == "VegaLiteChart"]
    return {s.get("title"): s for s in found}


def words(at: AppTest) -> str:
    """Everything written on the page, as the user reads it."""
    return plain(" ".join(m.value for m in [*at.markdown, *at.caption, *at.error, *at.warning, *at.info,
                                            *at.success]))


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frame_with(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def edit_grid(at: AppTest, key: str, edited: dict | None = None, added: list | None = None,
              deleted: list | None = None) -> None:
    """Edits in a data_editor as the browser sends them (AppTest cannot type into a grid)."""
    at.session_state[key] = {"edited_rows": edited or {}, "added_rows": added or [], "deleted_rows": deleted or []}


def test_the_facilitator_sees_the_chosen_split_with_its_reason_and_the_shares_add_up(demo_db):
    at = as_facilitator(demo_db)
    shown = words(at)
    assert "The chosen split: Blend: 54% calls 911, 23% assessed value, 23% population" in shown
    assert "Chosen by Dana Whitfield on 27 October 2026" in shown
    assert "As Snohomish County 911 splits its shared costs" in shown
    assert metrics(at)["Shared cost over 5 years"] == "USD 38,680,000.00"
    chosen = frame_with(at, "Pays back in year")
    assert sum(Decimal(str(v)) for v in chosen["Share (USD)"]).quantize(Decimal("0.01")) == Decimal("38680000.00")
    assert abs(chosen["Share (%)"].sum() - 100) < 0.05  # each rounded to hundredths
    assert chosen.set_index("Partner").loc["City of Millbrook", "Pays back in year"] == 1
    side = next(t.value for t in at.table if "Method" in t.value.columns)
    assert "Blend: 54% calls 911, 23% assessed value, 23% population (chosen)" in side["Method"].tolist()
    for _, row in side.iterrows():  # every method splits the same total
        assert abs(sum(row[c] for c in side.columns[1:]) - 38_680_000) < 0.01
    years = frame_with(at, "Year")
    assert years["Total"].tolist() == [11_800_000.0, 6_720_000.0, 6_720_000.0, 6_720_000.0, 6_720_000.0]
    drawn = specs(at)
    bars = drawn["Each partner's share under each way of splitting the costs"]
    assert bars["encoding"]["y"]["title"] == "Share over 5 years (USD)"
    assert bars["encoding"]["color"]["scale"]["range"][0] == "#0072B2"
    assert "Going alone against sharing: each partner's cost" in drawn
    assert not at.exception


def test_saving_a_changed_cost_line_changes_the_split(demo_db):
    at = as_facilitator(demo_db)
    edit_grid(at, "cost_lines_1_0", edited={"0": {"amount": 4_200_000.0}})  # the CAD purchase, 1,000,000 more
    at.button(key="save_cost_lines_1_0").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Saved the cost lines (5)." in words(at)
    assert metrics(at)["Shared cost over 5 years"] == "USD 39,680,000.00"
    assert cs.cost_model(demo_db, 1).lines[0]["amount"] == 4_200_000.0
    assert cs.allocate(demo_db, 1).total == Decimal("39680000.00")


def test_a_new_cost_line_is_added_and_a_removed_one_deleted(demo_db):
    at = as_facilitator(demo_db)
    edit_grid(at, "cost_lines_1_0", deleted=[4], added=[{"name": "Radio tower lease", "kind": "recurring",
                                                         "amount": 50_000, "first_year": 1, "years": 5}])
    at.button(key="save_cost_lines_1_0").click().run()
    assert not at.exception, [e.value for e in at.exception]
    names = [x["name"] for x in cs.cost_model(demo_db, 1).lines]
    assert "Radio tower lease" in names and "CAD maintenance and support" not in names


def test_a_negative_amount_is_refused_naming_the_line_and_field_and_nothing_changes(demo_db):
    before = cs.cost_model(demo_db, 1).lines
    at = as_facilitator(demo_db)
    edit_grid(at, "cost_lines_1_0", edited={"1": {"amount": -5.0}})
    at.button(key="save_cost_lines_1_0").click().run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert plain(error).startswith("Not saved: cost line 2 (“Consolidated centre fit-out”), amount: expected an "
                                   "amount of at least 0, got -5")
    assert cs.cost_model(demo_db, 1).lines == before
    assert metrics(at)["Shared cost over 5 years"] == "USD 38,680,000.00"


def test_a_second_persons_stale_save_is_refused_not_overwriting_the_first(demo_db):
    at = as_facilitator(demo_db)  # Dana opens the page...
    lines = cs.cost_model(demo_db, 1).lines
    cs.save_cost_lines(demo_db, actor=SYSTEM, proposal_id=1, expected=lines,  # ...somebody else saves first
                       lines=[{**lines[0], "amount": 3_000_000.0}, *lines[1:]])
    edit_grid(at, "cost_lines_1_0", edited={"2": {"amount": 1.0}})  # ...then Dana saves what she had
    at.button(key="save_cost_lines_1_0").click().run()
    assert not at.exception
    assert any("changed by somebody else" in e.value for e in at.error)
    stored = cs.cost_model(demo_db, 1).lines
    assert (stored[0]["amount"], stored[2]["amount"]) == (3_000_000.0, 900_000.0)  # theirs kept, hers not written
    assert metrics(at)["Shared cost over 5 years"] == "USD 38,480,000.00"  # and theirs shown


def test_a_reader_sees_the_figures_but_no_way_to_change_them(demo_db):
    jo = member_id(demo_db, 1, "Jo Park")  # an observer
    at = start(COSTS, proposal_id=1, actor=jo)
    assert metrics(at)["Shared cost over 5 years"] == "USD 38,680,000.00"
    assert "The chosen split: Blend" in words(at)
    labels = {b.label for b in at.button}
    assert not labels & {"Save the cost lines", "Save the partners' figures", "Record this split",
                         "Save currency and horizon"}
    assert "The facilitator or an administrator records the split" in words(at)


def test_recording_another_split_keeps_who_chose_it_and_why(demo_db):
    at = as_facilitator(demo_db)
    at.selectbox(key="alloc_kind_1_0").select("population").run()
    at.text_area(key="alloc_rationale_1_0").input("Population is what every council understands.")
    at.button(key="alloc_record_1_0").click().run()
    assert not at.exception, [e.value for e in at.exception]
    stored = cs.cost_model(demo_db, 1).allocation
    assert stored["method"] == "population" and stored["rationale"] == "Population is what every council understands."
    assert "The chosen split: By population" in words(at)
    assert "Population is what every council understands." in words(at)
    username = username_of(demo_db, member_id(demo_db, 1, "Dana Whitfield"))
    assert stored["chosen_by"] == username and f"Chosen by Dana Whitfield ({username}) on " in words(at)


def test_a_split_without_a_reason_is_refused_in_words(demo_db):
    at = as_facilitator(demo_db)
    at.selectbox(key="alloc_kind_1_0").select("equal").run()
    at.button(key="alloc_record_1_0").click().run()
    assert any("rationale: a value is required" in plain(e.value) for e in at.error)
    assert cs.cost_model(demo_db, 1).allocation["method"] == "blend"


def test_fixed_percentages_that_do_not_add_up_cannot_be_recorded(demo_db):
    at = as_facilitator(demo_db)
    at.selectbox(key="alloc_kind_1_0").select("fixed").run()
    assert at.button(key="alloc_record_1_0").disabled is False  # 25% each: they add up
    at.number_input(key="alloc_pct_Harmon County_1_0").set_value(60.0).run()
    assert any("100" in w.value for w in at.warning)
    assert at.button(key="alloc_record_1_0").disabled


def test_the_withdrawal_what_if_shows_the_exit_charge_the_new_shares_and_the_risks(demo_db):
    at = as_facilitator(demo_db)
    at.selectbox(key="withdraw_1").select("City of Millbrook").run()
    assert not at.exception
    assert metrics(at)["City of Millbrook's exit charge"] == "USD 80,000.00"
    table = frame_with(at, "Share without City of Millbrook (USD)").set_index("Partner")
    assert table.loc["Harmon County", "Share without City of Millbrook (USD)"] == 24_780_213.76
    assert table["Share without City of Millbrook (USD)"].sum() == table["Share now (USD)"].sum()
    assert "CYB-02" in words(at) and "City of Millbrook owns it" in words(at)


def test_the_partners_figures_are_saved_and_a_usage_figure_added(demo_db):
    at = as_facilitator(demo_db)
    at.text_input(key="new_driver_partner_figures_1_0").input("Radio units")
    at.button(key="add_driver_partner_figures_1_0").click().run()
    assert not at.exception
    grid = "partner_figures_1_1"
    order = [p.name for p in cs.cost_model(demo_db, 1).partners]
    edit_grid(at, grid, edited={str(order.index("City of Millbrook")): {"status_quo_cost": 600_000.0,
                                                                         "driver:radio_units": 40.0}})
    at.button(key=f"save_{grid}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    millbrook = next(p for p in cs.cost_model(demo_db, 1).partners if p.name == "City of Millbrook")
    assert millbrook.status_quo_cost == 600_000.0 and millbrook.drivers["radio_units"] == 40.0
    assert millbrook.drivers["calls_911"] == 8100  # its other figures kept


def test_moving_to_another_proposal_shows_its_own_figures(demo_db):
    at = start(COSTS, proposal_id=1)
    assert metrics(at)["Shared cost over 5 years"] == "USD 38,680,000.00"
    at.sidebar.selectbox(key="sidebar_proposal").select(2).run()
    assert not at.exception
    shown = words(at)
    assert "The chosen split: Base plus usage: 20% in equal shares, 80% by employees" in shown
    assert "Snohomish" not in shown
    total = sum(x["amount"] * (x["years"] if x["kind"] == "recurring" else 1) for x in cs.cost_model(demo_db, 2).lines)
    assert metrics(at)["Shared cost over 5 years"] == f"USD {total:,.2f}"
    assert frame_with(at, "name")["name"].tolist() == [x["name"] for x in cs.cost_model(demo_db, 2).lines]


def test_a_new_proposal_gets_its_first_cost_line_and_horizon(app_db):
    created = ps.create_proposal(app_db, actor=SYSTEM, title="Shared fleet garage", service_type="Other")
    for name, population in (("Town of Ashford", 12_000), ("Town of Bexley", 8_000)):
        partner = ps.add_partner(app_db, actor=SYSTEM, name=name, population=population)
        ps.link_partner(app_db, actor=SYSTEM, proposal_id=created, partner_id=partner)
    at = start(COSTS, proposal_id=created)
    assert any("No cost lines yet" in i.value for i in at.info)
    assert "No split has been chosen yet." in words(at)
    edit_grid(at, f"cost_lines_{created}_0", added=[{"name": "Garage lease", "kind": "recurring", "amount": 60_000,
                                                    "first_year": 1, "years": 10, "credit_partner": "Town of Bexley"}])
    at.button(key=f"save_cost_lines_{created}_0").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert metrics(at)["Shared cost over 5 years"] == "USD 300,000.00"  # equal shares until a split is chosen
    at.number_input(key=f"cost_horizon_{created}_0").set_value(10)
    at.button(key=f"cost_settings_save_{created}_0").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert metrics(at)["Shared cost over 10 years"] == "USD 600,000.00"
    chosen = frame_with(at, "Pays back in year").set_index("Partner")
    assert chosen.loc["Town of Bexley", "Assets it brings (USD)"] == 600_000.0
    assert chosen.loc["Town of Bexley", "Pays in money (USD)"] == -300_000.0  # the others owe it


def test_a_proposal_without_partners_says_where_to_add_them(app_db):
    created = ps.create_proposal(app_db, actor=SYSTEM, title="Shared fleet garage", service_type="Other")
    at = start(COSTS, proposal_id=created)
    assert any("no partner governments yet" in i.value for i in at.info)


# --- the profile's risk in money -----------------------------------------------------------------------------------

def test_the_profile_prices_the_risks_with_a_progress_bar_and_draws_the_money_charts(demo_db, monkeypatch):
    updates: list[float] = []
    real = streamlit.progress

    class Bar:
        def __init__(self, value, text=None):
            self.bar = real(value, text=text)

        def progress(self, value, text=None):
            updates.append(value)
            self.bar.progress(value, text=text)

        def empty(self):
            self.bar.empty()

    monkeypatch.setattr(streamlit, "progress", Bar)
    at = as_facilitator(demo_db, page=PROFILE)
    assert not at.exception, [e.value for e in at.exception]
    assert updates and updates[-1] == 1.0 and updates == sorted(updates)
    shown = metrics(at)
    assert set(shown) >= {"Expected loss a year (USD)", "1 year in 10 is worse than (USD)",
                          "1 year in 20 is worse than (USD)", "1 year in 100 is worse than (USD)"}
    assert float(shown["Expected loss a year (USD)"].replace(",", "")) > 0
    drawn = specs(at)
    eal = drawn["Expected loss a year, risk by risk"]
    assert eal["layer"][0]["encoding"]["x"]["title"] == "Expected annual loss (USD)"
    curve = drawn["How likely is a bad year: the chance of losing more"]
    assert curve["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
    assert "What the treatments buy: loss avoided a year beside what the actions cost" in drawn
    partners = frame_with(at, "Expected loss a year (USD)")
    assert set(partners["Partner"]) == {"Harmon County", "City of Brookfield", "City of Lakeview", "City of Millbrook"}
    assert "Save the calibration table" in {b.label for b in at.button}

    updates.clear()
    at.run()  # nothing changed: the kept result, no second simulation
    assert updates == [] and metrics(at) == shown


def test_the_suggested_calibration_fills_the_nist_levels_and_is_saved(demo_db):
    cs.set_calibration(demo_db, actor=SYSTEM, proposal_id=1, calibration={}, expected_version=None)
    at = as_facilitator(demo_db, page=PROFILE)
    assert not at.exception
    at.button(key="suggest_calibration_1_0").click().run()
    grid = frame_with(at, "Events a year")
    assert grid["Events a year"].tolist() == [0.05, 0.1, 0.3, 1.0, 3.0]
    at.button(key="save_calibration_1_1").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert quantify.calibration_from_json(cs.cost_model(demo_db, 1).calibration) == quantify.SUGGESTED_CALIBRATION


def test_another_matrix_gets_its_own_levels_to_price(demo_db):
    cs.set_calibration(demo_db, actor=SYSTEM, proposal_id=3, calibration={}, expected_version=None)
    at = as_facilitator(demo_db, proposal_id=3, page=PROFILE)
    at.button(key="suggest_calibration_3_0").click().run()
    assert any("five NIST SP 800-30 levels" in i.value for i in at.info)
    grid = frame_with(at, "Events a year")
    assert grid["Level"].tolist() == ["Low", "Medium", "High", "Critical"]
    assert grid["Events a year"].isna().all()


def test_a_reader_sees_the_calibration_but_cannot_change_it(demo_db):
    at = start(PROFILE, proposal_id=1, actor=member_id(demo_db, 1, "Jo Park"))
    assert not at.exception
    assert "Save the calibration table" not in {b.label for b in at.button}
    assert frame_with(at, "Events a year")["Level"].tolist()[0] == "Very Low"


def test_an_administrator_signed_in_sees_the_costs_page_of_any_proposal(demo_db):
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.query_params["proposal"] = "3"
    at.session_state["_session_token"] = admin_session(demo_db)
    at.run()
    at.switch_page(COSTS).run()
    assert not at.exception
    assert "Fenwick pays at least a fifth" in words(at)


def test_the_costs_page_without_a_proposal_points_to_the_portfolio(app_db):
    at = start(COSTS)
    assert any("Choose a proposal" in i.value for i in at.info) and not at.metric


def test_an_account_outside_the_proposal_sees_nothing_of_its_costs(demo_db):
    from risk import accounts

    accounts.create_account(demo_db, actor=SYSTEM, username="otto", full_name="Otto Outsider",
                            password="a long enough passphrase")
    token = accounts.start_session(demo_db, accounts.authenticate(demo_db, "otto", "a long enough passphrase").id)
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.query_params["proposal"] = "1"
    at.session_state["_session_token"] = token
    at.run()
    at.switch_page(COSTS).run()
    assert not at.exception
    assert any("Choose a proposal" in i.value for i in at.info)
    assert not at.metric and not at.dataframe and "Snohomish" not in words(at)
