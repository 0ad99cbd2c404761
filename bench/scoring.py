"""Saving a score in the workshop (issue targets), beside the bare Streamlit form of bench/first_page.py, in headless
Chromium on phone-sized screens:

- one assessor: click to rendered of "Save my score" (target ≤ 1.5x the bare form's), and the browser's CPU time
  for a scoring step, two picks and a save until rendered (target ≤ 2x the bare form's);
- N assessors scoring at once, each in a browser context of their own (one browser): the p95 of click to rendered
  (target ≤ 2x the bare app's p95 at the same N), and how far the facilitator's board, refreshed every 3 s, falls
  behind the saves (target: never more than one refresh interval).

Times are taken in the page itself (so a busy test driver does not add to them), on one clock for all pages
(performance.timeOrigin + performance.now()): from the click's event to the first DOM change after which the script
is not running, the page has received the run's end (a ForwardMsg with script_finished, seen at the websocket) since
the click, and the success alert is there (ours: "Saved your score for <risk>.", new each save; bare: "Saved"). When
the browser took in a whole run at once, so that the page never showed it running (the bare form then draws the same
DOM again), the save is done at the second animation frame after the run's end, the alert there and the script not
running. The same websocket watch counts what each save costs: the runs that start and end (script_finished 3: a
fragment's run, 2: a run stopped early for a rerun) and the reruns the page asks for by itself (a fragment's
run_every); a MutationObserver counts the elements each save adds to the page. The demo portfolio's 911 proposal (1)
gets a blind inherent round of 4 risks; its 5 demo assessors and N new ones get accounts and sessions, and its
facilitator Dana Whitfield an account for the board. Single saves are made by the demo assessors (those not needed
get their scores from the service), so that the board counts everyone done once the N have saved."""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from bench.first_page import ARGS, BARE_APP, CHROMIUM, DONE, REPO, _demo_database, _server

ACTOR = "system:bench"
PROPOSAL = 1
FAILURES = Path(__file__).resolve().parent / "out" / "failures"  # screenshots of a page a measurement gave up on
SCOPE = 4  # risks in the round: each assessor saves this many scores
ASSESSORS = 10  # N, scoring at once
REFRESH_S = 3.0  # the board's @st.fragment(run_every=3)
TIMEOUT = 120_000  # ms: ten phones on two cores are slow
STUCK = 30_000  # ms: a phone still not showing the next risk after its save was drawn is stuck (see _ours_step)
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1440, "height": 1000}}
BOARD_DONE = re.compile(r"(\d+) of (\d+) (?:has|have) scored every risk")

# Injected before any page script: watches the websocket (top-level protobuf fields of every frame) and, once armed
# for a save, times it from the click to rendered.
PROBE = r"""
(() => {
  if (window.__bench) return;
  const now = () => performance.timeOrigin + performance.now();
  const B = window.__bench = {sessions: 0, finished: 0, fragmentRuns: 0, early: 0, reruns: [], pending: null,
                              saves: [], board: []};
  const varint = (u8, i) => { let v = 0, s = 1; for (;;) { const b = u8[i++]; v += (b & 0x7f) * s;
                                                            if (b < 0x80) return [v, i]; s *= 128; } };
  const fields = (u8) => {  // the top-level [field number, value] pairs of a protobuf message
    const out = []; let i = 0;
    while (i < u8.length) {
      let tag, v = null; [tag, i] = varint(u8, i); const f = Math.floor(tag / 8), w = tag & 7;
      if (w === 0) [v, i] = varint(u8, i);
      else if (w === 2) { let n; [n, i] = varint(u8, i); v = u8.subarray(i, i + n); i += n; }
      else if (w === 1) i += 8; else if (w === 5) i += 4; else break;
      out.push([f, v]);
    }
    return out;
  };
  const state = () => { const app = document.querySelector("[data-testid='stApp']");
                        return app && app.getAttribute("data-test-script-state"); };
  const check = () => {
    const p = B.pending;
    if (!p || p.t0 === null || p.done !== null) return;
    if (state() !== "notRunning") { p.sawRunning = true; return; }
    // the run's end has come in; and the page drew the run, or (when the browser took in the whole run at once and
    // its state never showed it running) two animation frames have passed since
    if (p.finishedAt === null || (!p.sawRunning && p.frames < 2)) return;
    const shown = [...document.querySelectorAll("[data-testid='stAlert']")].some(
      (a) => a.innerText.includes(p.text) && a.getClientRects().length > 0);
    if (!shown) return;
    p.done = now();
    p.sessions = B.sessions - p.sessions0; p.finishedRuns = B.finished - p.finished0;
    p.fragments = B.fragmentRuns - p.fragments0; p.early = B.early - p.early0;
    const sent = B.reruns.slice(p.reruns0);
    p.asked = sent.filter((r) => !r.auto).length; p.autoAsked = sent.length - p.asked;
    B.saves.push(p); B.pending = null; observer.disconnect(); p.resolve(p);
  };
  const observer = new MutationObserver((records) => {  // and how many elements each save puts in the page
    const p = B.pending;
    if (p) for (const r of records) for (const n of r.addedNodes) if (n.nodeType === 1) {
      p.added += 1 + n.querySelectorAll("*").length;
    }
    check();
  });
  const tick = (p) => { if (B.pending === p) { p.frames++; check(); requestAnimationFrame(() => tick(p)); } };
  const W = window.WebSocket;
  window.WebSocket = class extends W {
    constructor(...a) {
      super(...a);
      this.addEventListener("message", (e) => {
        if (!(e.data instanceof ArrayBuffer)) return;
        const p = B.pending, t = now();
        for (const [f, v] of fields(new Uint8Array(e.data))) {
          if (f === 4) { B.sessions++; if (p && p.t0 !== null) p.log.push([t - p.t0, "start"]); }  // a run begins
          if (f === 6) {  // script_finished (3: a fragment's run)
            B.finished++; if (v === 3) B.fragmentRuns++; if (v === 2) B.early++;  // 2: stopped for a rerun
            if (p && p.t0 !== null) p.log.push([t - p.t0, `end ${v}`]);
            if (p && p.t0 !== null) {  // the last before rendered: the save's own run
              if (p.finishedAt === null) requestAnimationFrame(() => tick(p));
              p.finishedAt = t; p.frames = 0;
            }
          }
        }
      });
    }
    send(d) {
      try {
        const u8 = d instanceof ArrayBuffer ? new Uint8Array(d)
          : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : null;
        for (const [f, v] of u8 ? fields(u8) : []) if (f === 11) {  // rerun_script: ClientState
          const cs = fields(v);
          const r = {t: now(), auto: cs.some(([g, x]) => g === 6 && x), fragment: cs.some(([g]) => g === 5)};
          B.reruns.push(r);
          const p = B.pending;
          if (p && p.t0 !== null) p.log.push([r.t - p.t0, r.auto ? "asked (timed)" : "asked"]);
        }
      } catch (e) { /* never in the page's way */ }
      return super.send(d);
    }
  };
  B.arm = (text) => {  // the next click starts a save; B.rendered is its promise
    const p = B.pending = {text, t0: null, done: null, sawRunning: false, finishedAt: null, frames: 0, log: [],
                           added: 0};
    B.rendered = new Promise((resolve) => { p.resolve = resolve; });
  };
  B.autoPerMinute = () => B.reruns.filter((r) => r.auto).length / (performance.now() / 60000);
  window.addEventListener("click", () => {
    const p = B.pending;
    if (!p || p.t0 !== null) return;
    Object.assign(p, {t0: now(), sessions0: B.sessions, finished0: B.finished, fragments0: B.fragmentRuns,
                      early0: B.early, reruns0: B.reruns.length});
    observer.observe(document.documentElement, {subtree: true, childList: true, attributes: true,
                                                characterData: true});
  }, true);
  B.watchBoard = () => {  // the facilitator's board: when its caption changes, and to what
    let last = null;
    const look = () => {
      const c = [...document.querySelectorAll("[data-testid='stCaptionContainer']")].map((e) => e.innerText)
        .find((t) => / scored every risk/.test(t));
      if (c && c !== last) { last = c; B.board.push({t: now(), text: c}); }
    };
    new MutationObserver(look).observe(document.documentElement, {subtree: true, childList: true,
                                                                   characterData: true});
    look();
  };
})();
"""

# What the page's websocket saw of a save that never came (for a failure's message): since the click, the reruns the
# page asked for and the runs that started and ended, in ms from the click
SEEN = """() => { const p = window.__bench.pending;
  return p && {clicked: p.t0 !== null, log: p.log, sawRunning: p.sawRunning, runEnded: p.finishedAt !== null,
               alerts: [...document.querySelectorAll("[data-testid='stAlert']")].map((a) => a.innerText),
               state: document.querySelector("[data-testid='stApp']")?.getAttribute("data-test-script-state")}; }"""


def _workshop(folder: Path, assessors: int) -> dict:
    """The demo database with a blind inherent round of SCOPE risks open on proposal 1, `assessors` new assessors,
    and a session each for them, the 5 demo assessors and the facilitator (Dana Whitfield)."""
    from risk import accounts
    from risk.db import make_engine
    from risk.services import proposals as ps
    from risk.services import rounds as rs

    db, _admin = _demo_database(folder)
    engine = make_engine(f"sqlite:///{db}")
    try:
        partners = {p.id: p.name for p, _role in ps.proposal_partners(engine, PROPOSAL)}
        risks = ps.list_risks(engine, PROPOSAL)
        round_id = rs.open_round(engine, actor=ACTOR, proposal_id=PROPOSAL, phase="inherent",
                                 risk_pks=[r.id for r in risks[:SCOPE]])
        scope = rs.current_round(engine, PROPOSAL).scope
        risk_ids = [next(r.risk_id for r in risks if r.id == pk) for pk in scope]  # the panel's order
        for i in range(assessors):
            ps.add_team_member(engine, actor=ACTOR, proposal_id=PROPOSAL, name=f"Bench Assessor {i + 1:02d}",
                               partner_id=list(partners)[i % len(partners)])

        def signed_in(member, username: str) -> dict:
            account = accounts.create_account(engine, actor=ACTOR, username=username, full_name=member.name,
                                              partner=partners.get(member.partner_id))
            ps.link_team_member(engine, actor=ACTOR, member_id=member.id, username=username)
            return {"member_id": member.id, "username": username, "token": accounts.start_session(engine, account.id)}

        team = ps.team(engine, PROPOSAL)
        demo = [signed_in(m, f"demo.assessor{k}") for k, m in enumerate(
            m for m in team if m.team_role == "assessor" and not m.name.startswith("Bench "))]
        bench = [signed_in(m, f"bench.assessor{k}") for k, m in enumerate(
            m for m in team if m.name.startswith("Bench "))]
        facilitator = signed_in(next(m for m in team if m.name == "Dana Whitfield"), "dana")
    finally:
        engine.dispose()
    return {"db": db, "round_id": round_id, "scope": scope, "risk_ids": risk_ids, "demo": demo, "bench": bench,
            "facilitator": facilitator}


def _fill_in(db: Path, round_id: int, scope: list[int], who: list[dict]) -> None:
    """Scores for assessors the bench does not drive (so that the board can show everyone done)."""
    from risk.db import make_engine
    from risk.services import rounds as rs

    engine = make_engine(f"sqlite:///{db}")
    try:
        for a in who:
            for pk in scope:
                rs.submit_score(engine, actor=a["username"], round_id=round_id, assessor_id=a["member_id"],
                                risk_pk=pk, likelihood=3, impact=3)
    finally:
        engine.dispose()


async def _page(browser, url: str, token: str | None, device: dict):
    from risk.web import SESSION_COOKIE

    context = await browser.new_context(**device)
    context.set_default_timeout(TIMEOUT)
    await context.add_init_script(PROBE)
    if token:
        await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": url}])
    page = await context.new_page()
    await page.goto(url)
    await page.wait_for_selector(DONE, timeout=TIMEOUT)
    return context, page


async def _save(page, button, text: str, cdp=None) -> dict:
    """Click `button` and wait until the page has rendered the run it started, showing an alert with `text`; with
    a CDP session, the browser's CPU time for it too."""
    await page.evaluate("(t) => window.__bench.arm(t)", text)
    before = await _cpu(cdp) if cdp else None
    await button.click()
    save = await asyncio.wait_for(page.evaluate("() => window.__bench.rendered.then(({resolve, ...p}) => p)"),
                                  TIMEOUT / 1000)
    if cdp:
        save["cpu_ms"] = (await _cpu(cdp) - before) * 1000
    return save


async def _ours_step(page, k: int, risk_id: str, cdp=None) -> dict:
    """Tap a likelihood and an impact, then save (the panel has `risk_id` up). A phone left showing the risk it just
    saved (the panel's update not drawn, seen about once in fifteen runs of ten at once) is tapped "Save my score"
    again, as a person would: that tap saves nothing and draws the panel again; counted in the page's `retaps`."""
    form = page.get_by_test_id("stForm")
    try:
        await form.get_by_text(risk_id).first.wait_for(timeout=STUCK)
    except Exception:  # noqa: BLE001 - the stuck screen: tap again once, then wait as long as for any save
        await page.wait_for_selector(DONE, timeout=TIMEOUT)
        await page.evaluate("() => { window.__bench.retaps = (window.__bench.retaps || 0) + 1; }")
        await form.get_by_role("button", name="Save my score").click()
        await form.get_by_text(risk_id).first.wait_for(timeout=TIMEOUT)
    for key, score in (("b_l_", 1 + k % 5), ("b_i_", 1 + (k + 2) % 5)):
        button = form.locator(f"[class*='st-key-{key}']").get_by_role("radio", name=re.compile(f"^{score} "))
        await button.tap()
        await page.wait_for_function("(b) => b.getAttribute('aria-checked') === 'true'",
                                     arg=await button.element_handle(), timeout=TIMEOUT, polling=50)
    return await _save(page, form.get_by_role("button", name="Save my score"), f"Saved your score for {risk_id}.",
                       cdp)


async def _bare_step(page, k: int, cdp=None) -> dict:
    """Choose both selectboxes, then submit."""
    for label, value in (("Likelihood", 1 + k % 5), ("Impact", 1 + (k + 2) % 5)):
        await page.get_by_role("combobox", name=label).click()
        await page.get_by_role("option", name=str(value), exact=True).click()
        await page.wait_for_function("([l, v]) => document.querySelector(`input[aria-label='${l}']`).value === v",
                                     arg=[label, str(value)], timeout=TIMEOUT, polling=50)
    return await _save(page, page.get_by_role("button", name="Save my score"), "Saved", cdp)


async def _ready(page, risk_id: str | None = None) -> None:
    """Until the page has drawn its form (ours: with `risk_id` up) and its script is not running."""
    if risk_id:
        await page.get_by_test_id("stForm").get_by_text(risk_id).first.wait_for(timeout=TIMEOUT)
    else:
        await page.get_by_role("combobox", name="Likelihood").wait_for(timeout=TIMEOUT)
    await page.wait_for_selector(DONE, timeout=TIMEOUT)


async def _cpu(cdp) -> float:
    metrics = await cdp.send("Performance.getMetrics")
    return next(m["value"] for m in metrics["metrics"] if m["name"] == "TaskDuration")


async def _single(browser, ours_url: str, bare_url: str, work: dict, saves: int) -> dict:
    """One assessor at a time beside the bare form, in turns (ours, bare, ours, ...): click to rendered, and the
    browser CPU of each step (two picks and a save, until rendered)."""
    out: dict[str, list] = {"ours": [], "bare": [], "ours_cpu": [], "bare_cpu": []}
    bare_context, bare = await _page(browser, bare_url, None, PHONE)
    try:
        bare_cdp = await bare_context.new_cdp_session(bare)
        await bare_cdp.send("Performance.enable")
        await _ready(bare)
        for a in work["demo"][:-(-saves // SCOPE)]:
            context, page = await _page(browser, f"{ours_url}/workshop?proposal={PROPOSAL}", a["token"], PHONE)
            try:
                await _ready(page, work["risk_ids"][0])
                await page.wait_for_timeout(1000)
                cdp = await context.new_cdp_session(page)
                await cdp.send("Performance.enable")
                for k, risk_id in enumerate(work["risk_ids"]):
                    for name, p, c, step in (
                            ("ours", page, cdp, lambda p=page, c=cdp, k=k, r=risk_id: _ours_step(p, k, r, c)),
                            ("bare", bare, bare_cdp, lambda k=k: _bare_step(bare, k, bare_cdp))):
                        await p.wait_for_timeout(300)  # let the last rerun's paint and effects settle
                        before = await _cpu(c)
                        out[name].append(await step())
                        out[f"{name}_cpu"].append((await _cpu(c) - before) * 1000)
                    print(f"single save {len(out['ours'])}: ours {_took(out['ours'][-1]):.0f} ms "
                          f"({out['ours_cpu'][-1]:.0f} ms CPU), bare {_took(out['bare'][-1]):.0f} ms "
                          f"({out['bare_cpu'][-1]:.0f} ms CPU)", file=sys.stderr, flush=True)
            finally:
                await context.close()
    finally:
        await bare_context.close()
    return out


def _took(save: dict) -> float:
    return save["done"] - save["t0"]


async def _at_once(browser, url: str, people: list[dict | None], step, ready, board_token: str | None = None
                   ) -> dict:
    """Each of `people` (a session, or None for the bare app) on a page of their own, all saving SCOPE scores at
    once, from when every page is `ready`; with `board_token`, the facilitator's board open beside them."""
    opened = []
    try:
        board = None
        if board_token:
            opened.append(await _page(browser, f"{url}/workshop?proposal={PROPOSAL}", board_token, DESKTOP))
            board = opened[-1][1]
            await board.get_by_text(BOARD_DONE).first.wait_for(timeout=TIMEOUT)
            await board.evaluate("() => window.__bench.watchBoard()")
        address = f"{url}/workshop?proposal={PROPOSAL}" if board_token else url
        opened += await asyncio.gather(*(_page(browser, address, p and p["token"], PHONE) for p in people))
        pages = [page for _context, page in opened[1 if board else 0:]]
        await asyncio.gather(*(ready(p) for p in pages))
        await asyncio.sleep(2)  # the pages' first runs and paints over

        async def one(page) -> list[dict]:
            k = 0
            try:
                out = []
                for k in range(SCOPE):
                    out.append(await step(page, k))
                return out
            except Exception as exc:  # what the page showed, kept for whoever reads the failure
                shot = FAILURES / f"at-once-{pages.index(page) + 1}-save-{k + 1}.png"
                shot.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(shot), full_page=True)
                seen = await page.evaluate(SEEN)
                raise RuntimeError(f"person {pages.index(page) + 1} of {len(pages)}, save {k + 1}: {exc!r}; the page "
                                   f"as it was: {shot}; what its websocket saw: {json.dumps(seen)}") from exc

        saves = await asyncio.gather(*(one(p) for p in pages))
        out = {"saves": [s for person in saves for s in person], "last": [person[-1]["done"] for person in saves],
               "auto_per_min": [await p.evaluate("() => window.__bench.autoPerMinute()") for p in pages],
               "retaps": sum([await p.evaluate("() => window.__bench.retaps || 0") for p in pages])}
        if board:
            deadline = asyncio.get_running_loop().time() + TIMEOUT / 1000
            while True:  # until the board shows everyone done
                out["board"] = await board.evaluate("() => window.__bench.board")
                m = BOARD_DONE.search(out["board"][-1]["text"])
                if m.group(1) == m.group(2):
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"the board still says {out['board'][-1]['text']!r}")
                await asyncio.sleep(0.5)
            out["board_auto_per_min"] = await board.evaluate("() => window.__bench.autoPerMinute()")
        return out
    finally:
        for context, _ in opened:
            await context.close()


def _board_lag(out: dict, already_done: int) -> list[float]:
    """For each assessor's last save (in the order they finished), the time until the board counted them done."""
    lags = []
    for k, t in enumerate(sorted(out["last"]), start=1):
        shown = next(b["t"] for b in out["board"] if int(BOARD_DONE.search(b["text"]).group(1)) >= already_done + k)
        lags.append(max(0.0, shown - t))
    return lags


async def _drive(ours_url: str, bare_url: str, work: dict, saves: int, assessors: int) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            single = await _single(browser, ours_url, bare_url, work, saves)
            used = -(-saves // SCOPE)
            _fill_in(work["db"], work["round_id"], work["scope"], work["demo"][used:])
            risk_ids = work["risk_ids"]
            ours = await _at_once(browser, ours_url, work["bench"][:assessors],
                                  lambda p, k: _ours_step(p, k, risk_ids[k]), lambda p: _ready(p, risk_ids[0]),
                                  work["facilitator"]["token"])
            print(f"{assessors} at once, ours: p95 {_p95([_took(s) for s in ours['saves']]):.0f} ms",
                  file=sys.stderr, flush=True)
            bare = await _at_once(browser, bare_url, [None] * assessors, _bare_step, _ready)
            print(f"{assessors} at once, bare: p95 {_p95([_took(s) for s in bare['saves']]):.0f} ms",
                  file=sys.stderr, flush=True)
        finally:
            await browser.close()
    return {"single": single, "ours": ours, "bare": bare, "already_done": len(work["demo"])}


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _summary(saves: list[dict]) -> dict:
    """Click to rendered of `saves`, split at the run's end reaching the browser, and what each save cost."""
    took = [_took(x) for x in saves]
    return {"n": len(saves), "p50": statistics.median(took), "p95": _p95(took), "max": max(took),
            "server_p50": statistics.median(x["finishedAt"] - x["t0"] for x in saves),
            "browser_p50": statistics.median(x["done"] - x["finishedAt"] for x in saves),
            "runs": dict(sorted(Counter(x["finishedRuns"] for x in saves).items())),
            "behind_auto_rerun": sum(x["autoAsked"] > 0 for x in saves),
            "stopped_early": sum(x["early"] for x in saves),
            "added_p50": statistics.median(x["added"] for x in saves),
            "running_unseen": sum(not x["sawRunning"] for x in saves)}


def measure(runs: int = 8, assessors: int = ASSESSORS, raw_to: Path | None = None) -> dict:
    """`runs` single saves of each app (rounded up to whole assessors, SCOPE saves each; at most 20, the demo's 5
    assessors' worth), in turns, then
    `assessors` scoring at once on each app (SCOPE saves each), the facilitator's board open beside ours.
    `raw_to`: a JSON file for every sample."""
    med = statistics.median
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="risk-scoring-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        work = _workshop(folder, assessors)
        bare_script = folder / "bare.py"
        bare_script.write_text(BARE_APP)
        ours_url, _ = stack.enter_context(_server(REPO / "serve.py", {"RISK_DATABASE_URL": f"sqlite:///{work['db']}"}))
        bare_url, _ = stack.enter_context(_server(bare_script, {}))
        raw = asyncio.run(_drive(ours_url, bare_url, work, runs, assessors))
    if raw_to is not None:
        raw_to.write_text(json.dumps(raw, indent=1))
    single, ours, bare = raw["single"], raw["ours"], raw["bare"]
    lags = _board_lag(ours, raw["already_done"])
    return {
        "assessors": assessors, "scope": SCOPE,
        "single": {"ours": _summary(single["ours"]), "bare": _summary(single["bare"])},
        "cpu_ms": {"ours": med(single["ours_cpu"]), "bare": med(single["bare_cpu"])},
        "save_cpu_ms": {side: med(x["cpu_ms"] for x in single[side]) for side in ("ours", "bare")},
        "at_once": {"ours": _summary(ours["saves"]), "bare": _summary(bare["saves"])},
        "board_lag_s": {"last": lags[-1] / 1000, "max": max(lags) / 1000, "refresh": REFRESH_S},
        "auto_reruns_per_min": {"assessor_page": med(ours["auto_per_min"]), "board": ours["board_auto_per_min"],
                                "bare": med(bare["auto_per_min"])},
        "retaps": ours["retaps"],
        "load": {"before": load_before, "after": _load()},
    }


def _verdict(ratio: float, limit: float) -> str:
    return f"≤ {limit:g}x: {'met' if ratio <= limit else 'NOT met'}"


def table(result: dict) -> str:
    s, c, a, b = result["single"], result["cpu_ms"], result["at_once"], result["board_lag_s"]
    n, auto = result["assessors"], result["auto_reruns_per_min"]
    lines = ["| saving a score | ours | bare Streamlit | ratio | target |", "|---|---:|---:|---:|---|"]
    for label, ours, bare, limit in (
            ("one assessor: click \"Save my score\" to rendered (median)", s["ours"]["p50"], s["bare"]["p50"], 1.5),
            ("one assessor: browser CPU per scoring step, two picks and a save (median)", c["ours"], c["bare"], 2.0),
            (f"{n} assessors at once: click to rendered, p95", a["ours"]["p95"], a["bare"]["p95"], 2.0)):
        lines.append(f"| {label} | {ours:,.0f} ms | {bare:,.0f} ms | {ours / bare:.2f}x | "
                     f"{_verdict(ours / bare, limit)} |")
    sc = result["save_cpu_ms"]
    lines.append(f"| one assessor: browser CPU of the save alone, click to rendered (median) | {sc['ours']:,.0f} ms | "
                 f"{sc['bare']:,.0f} ms | {sc['ours'] / sc['bare']:.2f}x | – |")
    lines.append(f"| {n} assessors at once: click to rendered, p50 (max) | {a['ours']['p50']:,.0f} ms "
                 f"({a['ours']['max']:,.0f}) | {a['bare']['p50']:,.0f} ms ({a['bare']['max']:,.0f}) | "
                 f"{a['ours']['p50'] / a['bare']['p50']:.2f}x | – |")
    lines.append(f"| {n} assessors at once: the facilitator's board behind the last save (behind any assessor's "
                 f"last save, at most) | {b['last']:.1f} s ({b['max']:.1f} s) | – | – | ≤ {b['refresh']:g} s, one "
                 f"refresh: {'met' if b['max'] <= b['refresh'] else 'NOT met'} |")
    lines += ["", "| click to rendered, medians | ours, one | bare, one | ours, at once | bare, at once |",
              "|---|---:|---:|---:|---:|"]
    cols = (s["ours"], s["bare"], a["ours"], a["bare"])
    for label, key in (("click to the run's end reaching the browser", "server_p50"),
                       ("then to rendered", "browser_p50")):
        lines.append(f"| {label} | " + " | ".join(f"{x[key]:,.0f} ms" for x in cols) + " |")
    lines.append("| script runs per save: runs (saves) | " + " | ".join(
        ", ".join(f"{runs} ({saves})" for runs, saves in x["runs"].items()) for x in cols) + " |")
    lines.append("| saves with a timed rerun (run_every) asked for meanwhile | " + " | ".join(
        f"{x['behind_auto_rerun']} of {x['n']}" for x in cols) + " |")
    # status 2 also marks a run whose end was still in the server's queue when the next run began (Streamlit's
    # forward_msg_queue rewrites it so), not only a run stopped for a rerun
    lines.append("| runs ended \"early for a rerun\" (status 2), in all saves | " + " | ".join(
        str(x["stopped_early"]) for x in cols) + " |")
    lines.append("| elements added to the page per save | " + " | ".join(
        f"{x['added_p50']:,.0f}" for x in cols) + " |")
    return "\n".join(lines) + (
        f"\n\n{s['ours']['n']} single saves of each app, in turns; {n} phones at once x {result['scope']} saves each, "
        f"one Chromium. Timed reruns asked for by themselves, per page per minute: an assessor's page "
        f"{auto['assessor_page']:.0f}, the facilitator's board {auto['board']:.0f}, the bare form {auto['bare']:.0f}. "
        f"Saves whose running state the page never drew (done at the second frame after the run's end): "
        f"{sum(x['running_unseen'] for x in cols)} of {sum(x['n'] for x in cols)}. Phones of ours left showing the "
        f"risk they had just saved, tapped \"Save my score\" again: {result['retaps']}. Load average (1/5/15 min) "
        f"before / after: {result['load']['before']} / {result['load']['after']} on {os.cpu_count()} cores.")


if __name__ == "__main__":  # python -m bench.scoring [SAVES [ASSESSORS [RAW.json]]]
    os.environ.setdefault("RISK_AUDIT_KEY", "ab" * 32)
    print(table(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 8,
                        int(sys.argv[2]) if len(sys.argv) > 2 else ASSESSORS,
                        Path(sys.argv[3]) if len(sys.argv) > 3 else None)))
