"""The guided walk through the categories: what each covers and questions that start the team's discussion."""

from __future__ import annotations

from risk.scoring import CATEGORY_COVERS, CORE_CATEGORIES

PROMPTS: dict[str, tuple[str, ...]] = {
    "legal": (
        "Does each partner have the legal authority to enter this agreement, and has each governing body approved it?",
        "Who answers a public-records request for data the host holds, and by when?",
        "Who owns each partner's data, which retention schedule applies, and what happens to it if a partner leaves?",
        "Do the software licences, and any CJIS or HIPAA agreements, cover every partner's users?",
        "Who is liable when something goes wrong: a breach, an outage, a wrong dispatch?",
    ),
    "operational": (
        "What service levels will the host promise, and how will each partner know they are met?",
        "Which single component, site or person would stop the service for everyone if it failed?",
        "Who decides on changes and upgrades, and how do smaller partners get a say?",
        "How will data be migrated from each partner's old system, and how will it be checked?",
        "Who does what during an incident, at night and at weekends?",
    ),
    "financial": (
        "How are start-up and running costs split (equal shares, population, usage, a base fee plus usage)?",
        "Who pays for an overrun, and who gets the savings?",
        "What does a partner owe if it leaves, and what happens to the fixed costs it leaves behind?",
        "Is there a reserve for replacing the system, and who funds it?",
        "Do the partners' budget cycles and insurance cover line up?",
    ),
    "reputational": (
        "When the service fails, whom will residents and the press blame?",
        "Have the savings been promised publicly, and are they realistic?",
        "Could a dispute between officials of the partners become public?",
        "Will residents feel they have lost a local service or local control?",
    ),
    "societal": (
        "Will residents of every partner get the same quality of service?",
        "Who could be left behind: residents without internet access, with disabilities, or speaking other languages?",
        "Will local jobs or local suppliers be lost?",
        "How will residents hold the shared service to account through their own elected officials?",
        "Does pooling data raise privacy or surveillance concerns?",
    ),
    "cybersecurity": (
        "Could an incident at one partner spread to the host and every other partner?",
        "Who holds administrator access to the shared system, and how is it checked?",
        "Does every partner meet the same baseline (multi-factor sign-in, patching, backups)?",
        "How quickly must a partner tell the others about an incident?",
    ),
}


def categories_for(cybersecurity: bool) -> list[str]:
    """The categories a proposal's walk covers: the five core ones, and cybersecurity when it is turned on."""
    return list(CORE_CATEGORIES) + (["cybersecurity"] if cybersecurity else [])


def covers(category: str) -> str:
    return CATEGORY_COVERS[category]
