"""What `adamlab report` prints: the claims about the method and the implementation checks, as
Rich tables, a JSON list or Markdown tables (the form EXPERIMENTS.md quotes verbatim)."""

from __future__ import annotations

import json
import math
from collections import Counter

from adamlab.experiments.claims import CHECK, CLAIM, VERDICTS, Claim

MARKS = {"holds": "✓", "fails": "✗", "inconclusive": "~", "not measurable": "?"}
SECTIONS = ((CLAIM, "Claims about the method"), (CHECK, "Implementation checks"))


def claim_records(claims: list[Claim]) -> list[dict]:
    """One JSON object per claim: task, claim, measured, criterion, verdict, kind, why, value."""
    return [
        {
            "task": c.scope or None,
            "claim": c.claim,
            "measured": c.measured,
            "criterion": c.criterion,
            "verdict": c.verdict,
            "kind": c.kind,
            "why": c.why or None,
            "value": None if math.isnan(c.value) or math.isinf(c.value) else c.value,
        }
        for c in claims
    ]


def claims_json(claims: list[Claim]) -> str:
    return json.dumps(claim_records(claims), indent=2, ensure_ascii=False, allow_nan=False)


def verdict_cell(claim: Claim) -> str:
    return f"{MARKS[claim.verdict]} {claim.verdict}"


def measured_cell(claim: Claim) -> str:
    """The measurement, with why it is inconclusive when it is."""
    if claim.verdict == "inconclusive" and claim.why:
        return f"{claim.measured} — inconclusive: {claim.why}"
    return claim.measured


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def claims_markdown(claims: list[Claim]) -> str:
    """Markdown: a table of the claims about the method, then one of the implementation checks
    (each only when there is one), then the verdict counts."""
    blocks = []
    for kind, title in SECTIONS:
        chosen = [c for c in claims if c.kind == kind]
        if not chosen:
            continue
        lines = [f"**{title}**", "", "| task | claim | measured | criterion | verdict |",
                 "|---|---|---|---|---|"]
        for c in chosen:
            cells = [c.scope or "all", c.claim, measured_cell(c), c.criterion, verdict_cell(c)]
            lines.append("| " + " | ".join(_escape(cell) for cell in cells) + " |")
        blocks.append("\n".join(lines))
    blocks.append(count_line(claims))
    return "\n\n".join(blocks) + "\n"


def count_line(claims: list[Claim]) -> str:
    """e.g. '2 of 4 claims hold, 1 fails, 1 inconclusive; implementation checks: 2 of 2 hold.'"""
    parts = []
    for kind, name in ((CLAIM, "claims"), (CHECK, "implementation checks")):
        chosen = [c for c in claims if c.kind == kind]
        if not chosen:
            continue
        counts = Counter(c.verdict for c in chosen)
        text = f"{counts['holds']} of {len(chosen)} {name} hold"
        rest = [f"{counts[v]} {v if v != 'fails' else 'fail'}" for v in VERDICTS[1:] if counts[v]]
        parts.append(text + (" (" + ", ".join(rest) + ")" if rest else ""))
    return "; ".join(parts) + "." if parts else "No claims."


def all_hold(claims: list[Claim]) -> bool:
    return bool(claims) and all(c.verdict == "holds" for c in claims)
