"""The benchmark's data: a synthetic portfolio from the same generator `risk demo --synthetic` uses, so the
benchmark loads exactly what a user's synthetic load would, through the same bulk path."""

from __future__ import annotations

from risk.bundle import ProposalBundle
from risk.synthetic import generate


def generate_portfolio(proposals: int, risks: int, assessors: int, seed: int) -> list[ProposalBundle]:
    """`proposals` proposals of `risks` risks, each scored by `assessors` people in one inherent and one residual
    closed round."""
    return generate(proposals=proposals, risks=risks, assessors=assessors, seed=seed)


def register_file(rows: int, seed: int) -> bytes:
    """A register CSV of `rows` risks as a county would keep it: every column of ours (the derived ones too, which
    the import recomputes), sentences of realistic length, scores on most rows, UTF-8 with a byte-order mark."""
    import csv
    import io
    import random

    from risk.exchange.spreadsheet import FORMAT_VERSION
    from risk.scoring import CATEGORIES, RISK_STATUSES, TREATMENTS
    from risk.services.register_rows import REGISTER_COLUMNS

    rng = random.Random(seed)
    words = ("county city district shared dispatch payroll vendor outage budget contract staff data records "
             "council residents network backup audit grant migration training radio server licence").split()

    def sentence(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n)).capitalize()

    names = list(CATEGORIES.values())
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*REGISTER_COLUMNS, "format_version"])
    for k in range(rows):  # risk_ids RK0-0001 ... RK0-9999, RK1-0001 ...: the pattern allows 4 digits
        scored = rng.random() < 0.9
        lik, imp = (rng.randint(1, 5), rng.randint(1, 5)) if scored else ("", "")
        rl, ri = (rng.randint(1, 5), rng.randint(1, 5)) if scored and rng.random() < 0.7 else ("", "")
        row = {"proposal": "Bench register", "risk_id": f"RK{k // 9999}-{k % 9999 + 1:04}",
               "category": rng.choice(names),
               "title": sentence(6), "cause": sentence(12), "event": sentence(10), "consequence": sentence(12),
               "owner_partner": "", "owner": rng.choice(("IT director", "Finance officer", "Clerk", "")),
               "inherent_likelihood": lik, "inherent_impact": imp, "inherent_level": "High" if scored else "",
               "controls": sentence(15), "treatment": rng.choice(TREATMENTS), "residual_likelihood": rl,
               "residual_impact": ri, "residual_level": "", "appetite": "Cautious", "over_appetite": "no",
               "assessors": "0", "disagreement": "", "status": rng.choice(RISK_STATUSES), "next_review": "",
               "inherent_assessed_on": "2026-10-01" if scored else "", "residual_assessed_on": ""}
        writer.writerow([*(row[c] for c in REGISTER_COLUMNS), FORMAT_VERSION])
    return out.getvalue().encode("utf-8")
