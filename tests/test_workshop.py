"""The live workshop: blind rounds, the reveal, round two and the rules on who may do what."""

from __future__ import annotations

import threading

import pytest

from risk import scoring
from risk.errors import ForbiddenError, RefusedError
from risk.models import Score
from risk.services import rounds as rs
from risk.services import workshop as ws
from risk.services.profile import proposal_profile
from risk.store import count_rows, verify_chain
from tests.builders import ACTOR, make_proposal, score_round


def test_only_a_facilitator_opens_reveals_and_closes_rounds(engine):
    b = make_proposal(engine, partners=2, risks=1)
    assessor = b.usernames[b.members[0]]
    refused = (f"{assessor} \\(assessor of this proposal\\) may not run scoring rounds; a facilitator or an "
               "administrator can")
    with pytest.raises(ForbiddenError, match=refused):
        rs.open_round(engine, actor=assessor, proposal_id=b.proposal_id, phase="inherent")
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    with pytest.raises(ForbiddenError, match=refused):
        rs.reveal_round(engine, actor=assessor, round_id=rid)
    with pytest.raises(ForbiddenError, match="Someone Else \\(not signed in"):
        rs.reveal_round(engine, actor="Someone Else", round_id=rid)  # a member's name is nobody signed in
    other = make_proposal(engine, partners=1, risks=1, title="Another proposal")
    stranger = other.usernames[other.members[0]]
    with pytest.raises(ForbiddenError, match=f"{stranger} \\(not on this proposal's team"):
        rs.reveal_round(engine, actor=stranger, round_id=rid)
    rs.reveal_round(engine, actor=ACTOR, round_id=rid)
    with pytest.raises(ForbiddenError, match=refused):
        rs.close_round(engine, actor=assessor, round_id=rid)


def test_a_facilitator_cannot_score_in_place_of_an_assessor(engine):
    b = make_proposal(engine, partners=2, risks=1)
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    with pytest.raises(ForbiddenError, match="may not score in place of Assessor 1.1"):
        rs.submit_score(engine, actor=ACTOR, round_id=rid, assessor_id=b.members[0], risk_pk=b.risks[0],
                        likelihood=3, impact=3)
    assert count_rows(engine, Score) == 0


def test_a_score_for_a_closed_round_is_refused_with_a_clear_message(engine):
    b = make_proposal(engine, partners=1, risks=1)
    rid = score_round(engine, b, "inherent", {b.risks[0]: [(2, 2)]})
    rs.close_round(engine, actor=ACTOR, round_id=rid)
    with pytest.raises(RefusedError, match="round inherent 1 is closed; scores go into an open round"):
        rs.submit_score(engine, actor=b.usernames[b.members[0]], round_id=rid, assessor_id=b.members[0],
                        risk_pk=b.risks[0], likelihood=3, impact=3)


def test_a_score_sent_twice_is_one_score_changed(engine):
    b = make_proposal(engine, partners=1, risks=1)
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    name = b.usernames[b.members[0]]
    for lik in (2, 4, 4):
        rs.submit_score(engine, actor=name, round_id=rid, assessor_id=b.members[0], risk_pk=b.risks[0],
                        likelihood=lik, impact=3)
    assert rs.my_scores(engine, round_id=rid, assessor_id=b.members[0]) == {b.risks[0]: (4, 3, "")}
    assert count_rows(engine, Score) == 1


def test_a_round_scores_only_the_risks_in_it(engine):
    b = make_proposal(engine, partners=1, risks=3)
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent", risk_pks=b.risks[:2])
    with pytest.raises(RefusedError, match="LEG-03 is not in round inherent 1"):
        rs.submit_score(engine, actor=b.usernames[b.members[0]], round_id=rid, assessor_id=b.members[0],
                        risk_pk=b.risks[2], likelihood=3, impact=3)
    assert [p.total for p in rs.progress(engine, rid)] == [2]  # the assessor (the facilitator runs the round)


def test_before_the_reveal_each_assessor_reads_back_only_their_own_scores(engine):
    b = make_proposal(engine, partners=3, risks=2)
    rid = score_round(engine, b, "inherent", {b.risks[0]: [(1, 1), (5, 5), (3, 3)]}, reveal=False)
    mine = rs.my_scores(engine, round_id=rid, assessor_id=b.members[1])
    assert mine == {b.risks[0]: (5, 5, "")}
    with pytest.raises(RefusedError, match="still open: its scores are blind"):
        ws.reveal(engine, rid)
    board = rs.progress(engine, rid)
    assert {p.name: p.scored for p in board} == {"Assessor 1.1": 1, "Assessor 2.1": 1, "Assessor 3.1": 1}
    assert all(not hasattr(p, "likelihood") for p in board)  # counts only, never values


def test_the_reveal_is_anonymous_by_default_and_sorted_by_disagreement(engine):
    b = make_proposal(engine, partners=4, risks=2)
    calm, split = b.risks
    rid = score_round(engine, b, "inherent", {calm: [(3, 3)] * 4, split: [(1, 2), (2, 2), (4, 3), (5, 3)]})
    shown = ws.reveal(engine, rid)
    assert [r.risk_pk for r in shown.risks] == [split, calm]
    top = shown.risks[0]
    assert {s.assessor for s in top.scores} == {"Assessor A", "Assessor B", "Assessor C", "Assessor D"}
    assert (top.likelihood, top.impact, top.level) == (4, 3, "Moderate")  # upper medians, then the lookup
    assert top.mean_likelihood == 3.0 and top.mean_impact == 2.5
    assert top.flags == ["iqr", "partners", "polarised", "range", "spread"]
    rs.show_names(engine, actor=ACTOR, round_id=rid, show=True)
    assert {s.assessor for s in ws.reveal(engine, rid).risks[0].scores} == set(b.names[m] for m in b.members)


def test_round_two_rescores_the_flagged_risks_and_shows_whether_the_panel_converged(engine):
    b = make_proposal(engine, partners=3, risks=2)
    calm, split = b.risks
    first = score_round(engine, b, "inherent", {calm: [(2, 2)] * 3, split: [(1, 1), (3, 3), (5, 5)]})
    assert ws.flagged_risks(engine, first) == [split]
    second = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent",
                           risk_pks=ws.flagged_risks(engine, first))
    for member, (lik, imp) in zip(b.members, [(3, 3), (3, 3), (4, 3)], strict=True):
        rs.submit_score(engine, actor=b.usernames[member], round_id=second, assessor_id=member, risk_pk=split,
                        likelihood=lik, impact=imp)
    rs.reveal_round(engine, actor=ACTOR, round_id=second)
    [moved] = ws.compare(engine, first, second)
    assert moved.before[:2] == (3, 3) and moved.after[:2] == (3, 3)
    assert moved.spread_before == 8 and moved.spread_after == 1 and moved.converged
    # the profile now takes round two for the re-scored risk and round one for the other
    views = {v.risk.id: v for v in proposal_profile(engine, b.proposal_id).risks}
    assert views[split].inherent.round_number == 2 and views[calm].inherent.round_number == 1


def test_per_partner_impact_names_the_worst_hit_partner(engine):
    b = make_proposal(engine, partners=3, risks=1)
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent", per_partner=True)
    for member, imp in zip(b.members, (2, 5, 3), strict=True):
        rs.submit_score(engine, actor=b.usernames[member], round_id=rid, assessor_id=member, risk_pk=b.risks[0],
                        likelihood=3, impact=imp)
    rs.reveal_round(engine, actor=ACTOR, round_id=rid)
    [risk] = ws.reveal(engine, rid).risks
    assert risk.worst_hit == ["Regional 911/CAD partner 2"]
    assert risk.partner_impact == {"Regional 911/CAD partner 1": 2, "Regional 911/CAD partner 2": 5,
                                   "Regional 911/CAD partner 3": 3}
    assert "partners" in risk.flags


@pytest.mark.slow
def test_twenty_assessors_scoring_forty_risks_at_once_store_all_800_scores(sqlite_engine):
    engine = sqlite_engine
    b = make_proposal(engine, partners=5, assessors_per_partner=4, risks=40)
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    start = threading.Barrier(len(b.members))
    errors: list[BaseException] = []

    def value(member_index: int, risk_index: int) -> tuple[int, int]:
        return 1 + (member_index + risk_index) % 5, 1 + (member_index * 3 + risk_index) % 5

    def assessor(k: int, member: int) -> None:
        try:
            start.wait()
            for j, risk in enumerate(b.risks):
                lik, imp = value(k, j)
                rs.submit_score(engine, actor=b.usernames[member], round_id=rid, assessor_id=member, risk_pk=risk,
                                likelihood=lik, impact=imp)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=assessor, args=(k, m)) for k, m in enumerate(b.members)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert count_rows(engine, Score) == 800
    rs.reveal_round(engine, actor=ACTOR, round_id=rid)
    shown = {r.risk_pk: r for r in ws.reveal(engine, rid).risks}
    for j, risk in enumerate(b.risks):
        liks = [value(k, j)[0] for k in range(20)]
        imps = [value(k, j)[1] for k in range(20)]
        assert (shown[risk].likelihood, shown[risk].impact) == (scoring.upper_median(liks), scoring.upper_median(imps))
        assert len(shown[risk].scores) == 20
    assert verify_chain(engine) > 800


def test_a_refused_attempt_is_recorded_in_the_audit_log(engine):
    from sqlmodel import Session, select

    from risk.models import AuditEvent

    b = make_proposal(engine, partners=2, risks=1)
    rid = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    with pytest.raises(RefusedError):
        rs.submit_score(engine, actor=ACTOR, round_id=rid, assessor_id=b.members[1], risk_pk=b.risks[0],
                        likelihood=5, impact=5)
    with Session(engine) as s:
        last = s.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (last.action, last.actor, last.entity) == ("refused", ACTOR, "score")
    assert "submit_score" in last.after and "may not score in place of Assessor 2.1" in last.after
    assert count_rows(engine, Score) == 0 and verify_chain(engine) > 0


def test_opening_round_two_closes_round_one_and_a_closed_round_is_no_longer_current(engine):
    b = make_proposal(engine, partners=2, risks=1)
    first = score_round(engine, b, "inherent", {b.risks[0]: [(1, 1), (5, 5)]})
    assert rs.current_round(engine, b.proposal_id).id == first  # revealed: the reveal is on screen
    second = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent")
    statuses = {r.id: r.status for r in rs.list_rounds(engine, b.proposal_id)}
    assert statuses == {first: "closed", second: "open"}
    for member in b.members:
        rs.submit_score(engine, actor=b.usernames[member], round_id=second, assessor_id=member, risk_pk=b.risks[0],
                        likelihood=3, impact=3)
    rs.reveal_round(engine, actor=ACTOR, round_id=second)
    rs.close_round(engine, actor=ACTOR, round_id=second)
    assert rs.current_round(engine, b.proposal_id) is None  # round one does not come back


def test_the_reveal_says_how_many_assessors_scored_each_risk_and_who_did_not(engine):
    b = make_proposal(engine, partners=3, risks=2)
    scored, nobody = b.risks
    rid = score_round(engine, b, "inherent", {scored: [(3, 3), (3, 3)]})  # the third assessor did not score
    shown = ws.reveal(engine, rid)
    [risk] = shown.risks
    assert (risk.assessors, len(risk.scores), risk.missing) == (3, 2, ["Assessor C"])
    assert risk.flags == []  # agreement, but only among the two who scored
    assert [u[0] for u in shown.unscored] == [nobody]
    rs.show_names(engine, actor=ACTOR, round_id=rid, show=True)
    assert ws.reveal(engine, rid).risks[0].missing == ["Assessor 3.1"]


def test_an_anonymous_reveal_tells_each_assessor_only_their_own_letter(engine):
    b = make_proposal(engine, partners=3, risks=1)
    rid = score_round(engine, b, "inherent", {b.risks[0]: [(1, 1), (3, 3), (5, 5)]})
    shown = ws.reveal(engine, rid, viewer=b.members[1])
    assert shown.you == "Assessor B"
    assert [(s.assessor, s.likelihood) for s in shown.risks[0].scores if s.mine] == [("Assessor B", 3)]
    assert ws.reveal(engine, rid).you is None  # nobody in particular is looking
    facilitator = next(m for m, n in b.names.items() if n == ACTOR)
    assert ws.reveal(engine, rid, viewer=facilitator).you is None  # did not score: has no letter


def test_round_two_reminds_each_assessor_of_their_own_round_one_score_only(engine):
    b = make_proposal(engine, partners=3, risks=2)
    split, other = b.risks
    first = score_round(engine, b, "inherent", {split: [(1, 1), (3, 3), (5, 5)], other: [(2, 2), (2, 2)]})
    score_round(engine, b, "residual", {split: [(4, 4)] * 3})  # another phase: not a reminder
    second = rs.open_round(engine, actor=ACTOR, proposal_id=b.proposal_id, phase="inherent",
                           risk_pks=ws.flagged_risks(engine, first))
    earlier = rs.previous_scores(engine, round_id=second, assessor_id=b.members[2])
    assert earlier == {split: rs.EarlierScore(1, 5, 5)}  # the third assessor did not score the other risk
    assert rs.previous_scores(engine, round_id=first, assessor_id=b.members[2]) == {}


def test_a_recorded_consensus_is_read_back_with_its_dissent(engine):
    b = make_proposal(engine, partners=2, risks=1)
    score_round(engine, b, "inherent", {b.risks[0]: [(2, 2), (4, 4)]})
    rs.record_consensus(engine, actor=ACTOR, risk_pk=b.risks[0], phase="inherent", likelihood=4, impact=4,
                        rationale="Vendor lock-in", dissent="Partner 1 holds it is a 2")
    agreed = rs.recorded_consensus(engine, [b.risks[0]], "inherent")[b.risks[0]]
    assert (agreed.likelihood, agreed.impact, agreed.recorded_by, agreed.dissent) == (4, 4, ACTOR,
                                                                                       "Partner 1 holds it is a 2")
