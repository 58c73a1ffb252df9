"""What the command line prints: tables and command lines that fit a 100-column terminal.
Cells wrap (at most a few lines) and are shortened with an ellipsis beyond that; the full
detail stays in `run --json`."""

from __future__ import annotations

import json
import shlex
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from . import cost
from .pipeline import Outcome

WIDTH = 100  # columns a line may take, all included
GAP = "  "


KEEP = "\N{NO-BREAK SPACE}"  # a space that `fit` never wraps at (printed as a plain space)


def fit(text: str, width: int, lines: int = 2) -> list[str]:
    """`text` wrapped to `width`, at most `lines` lines, the last one ending in … if cut."""
    wrapped = textwrap.wrap(text, width, break_on_hyphens=False) or [""]
    # A long word (a key, an ARN) is cut by textwrap at the width already.
    if len(wrapped) > lines:
        wrapped = [*wrapped[: lines - 1], wrapped[lines - 1][: width - 1] + "…"]
    return [line.replace(KEEP, " ") for line in wrapped]


def table(header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int], lines: int = 2) -> str:
    """Left-aligned columns no wider than `widths` (each shrinks to its longest cell)."""
    assert sum(widths) + len(GAP) * (len(widths) - 1) <= WIDTH, "the columns must fit the terminal"
    cells = [[fit(cell, width, lines) for cell, width in zip(row, widths, strict=True)] for row in rows]
    used = [max([len(header[i])] + [len(line) for row in cells for line in row[i]]) for i in range(len(widths))]
    out = [GAP.join(h.ljust(w) for h, w in zip(header, used, strict=True)).rstrip()]
    out.append(GAP.join("-" * w for w in used))
    for row in cells:
        for n in range(max(len(cell) for cell in row)):
            parts = [(cell[n] if n < len(cell) else "").ljust(w) for cell, w in zip(row, used, strict=True)]
            out.append(GAP.join(parts).rstrip())
    return "\n".join(out)


def _kib(size: int | None) -> str:
    return f"{(size or 0) / 1024:,.0f}{KEEP}KiB"


def shorten_middle(text: str, width: int, end_share: float = 0.75) -> str:
    """`text` in at most `width` characters, cut in the middle: a file name keeps most of its
    end (the name a user gave it, its extension) and its start (`4f1c8a0…Summer-2024.jpg`);
    `end_share` of what is kept comes from the end."""
    if len(text) <= width:
        return text
    tail = int((width - 1) * end_share)
    return text[: width - 1 - tail] + "…" + text[len(text) - tail :]


def _written(outputs: Sequence[dict[str, Any]], detailed: bool) -> str:
    if not outputs:
        return "-"
    if detailed:
        return ", ".join(f"{x['kind']}{KEEP}{_kib(x['bytes'])}" for x in outputs)
    return f"{plural(len(outputs), 'file')}, {_kib(sum(x['bytes'] or 0 for x in outputs))}"


def outcomes_table(outcomes: Sequence[Outcome], by_user: bool = False) -> str:
    """One row per upload: what it was called, what became of it and why, what it wrote. Names
    are shortened in the middle, never at the end. `by_user` (a stage's uploads, named
    `<user>/<file>`): the user folder in a column of its own, and what was written in total."""
    seconds = [f"{o.seconds:.1f} s" if o.seconds is not None else "-" for o in outcomes]
    rows: list[tuple[str, ...]]
    if not by_user:
        rows = [
            (shorten_middle(o.file, 24), str(o.result), _written(o.outputs, True), time)
            for o, time in zip(outcomes, seconds, strict=True)
        ]
        return table(("file", "result", "written", "time"), rows, (24, 38, 26, 6))
    rows = []
    for outcome, time in zip(outcomes, seconds, strict=True):
        user, _, name = outcome.file.partition("/") if "/" in outcome.file else ("-", "", outcome.file)
        row = (
            shorten_middle(user, 12, 0.5),
            shorten_middle(name, 32),
            str(outcome.result),
            _written(outcome.outputs, False),
        )
        rows.append((*row, time))
    return table(("user", "file", "result", "written", "time"), rows, (12, 32, 26, 16, 6))


def progress_line(outcome: Outcome, done: int, total: int) -> str:
    time = f" ({outcome.seconds:.1f} s)" if outcome.seconds is not None else ""
    return fit(f"  [{done}/{total}] {outcome.file}: {outcome.result}{time}", WIDTH, lines=1)[0]


# What Powertools' Logger puts in every line: shown in the line's head, or left out (the raw
# line has them all: `logs --json`).
_LOG_STANDARD = {
    "level", "message", "timestamp", "location", "service", "cold_start", "function_name",
    "function_memory_size", "function_arn", "function_request_id", "xray_trace_id", "sampling_rate",
}  # fmt: skip


def log_lines(timestamp_ms: int, message: str) -> list[str]:
    """One log event, readable within WIDTH: `HH:MM:SS.mmm LEVEL [request] message key=value`
    (UTC, as AWS shows it), wrapped with an indent. A Powertools JSON line shows its own fields (not the ones every
    line carries) and an exception's last line; any other line (START, END, REPORT, a print)
    shows as it is."""
    moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]
    text = message.strip().replace("\t", "  ")
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if isinstance(record, dict) and "message" in record:
        request = str(record.get("function_request_id") or "")[:8]
        head = f"{moment} {record.get('level', '')!s:<7} {request:<8} "
        fields = [
            f"{name}={shorten_middle(value if isinstance(value, str) else json.dumps(value), 160)}"
            for name, value in record.items()
            if name not in _LOG_STANDARD and not name.startswith("exception")
        ]
        if record.get("exception"):
            fields.append(f"exception={str(record['exception']).strip().splitlines()[-1]}")
        text = " ".join([str(record["message"]), *fields])
    else:
        head = f"{moment} {'':<7} {'':<8} "
    indent = "    "  # continuation lines take nearly the whole width: keys and hashes stay whole
    return textwrap.wrap(
        head + text, WIDTH, subsequent_indent=indent, break_on_hyphens=False, drop_whitespace=True
    ) or [head.rstrip()]


class Shell(str):
    """A command word written as it is, for the shell to expand (`"$(command)"`): other words
    are quoted."""

    __slots__ = ()


def command_lines(words: Sequence[str], indent: str = "  ") -> list[str]:
    """A shell command split over lines with ` \\` continuations, each line within WIDTH,
    so it still runs when pasted into bash."""
    quoted = [word if isinstance(word, Shell) else shlex.quote(word) for word in words]
    lines, current = [], indent + quoted[0]
    for word in quoted[1:]:
        if len(current) + 1 + len(word) + 2 > WIDTH:
            lines.append(current + " \\")
            current = indent + "    " + word
        else:
            current += " " + word
    return [*lines, current]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _seconds_pair(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "-"
    return f"{low / 1000:.2f}/{high / 1000:.2f}{KEEP}s"


def bill_lines(bill: cost.Bill, calibration: cost.Calibration) -> str:
    """Per function: invocations, local and predicted Lambda durations (p50/p95), peak memory
    against memorySize, the Lambda cost per 1,000 photos and the median cold start (a new
    worker's Init Duration, here on the runtime's Python and predicted on Lambda); then the whole bill per 1,000
    photos for both workflow types, and warnings (near a timeout, out of memory)."""
    scale = 1000 / bill.photos if bill.photos else 0.0
    rows = [
        (
            f.function,
            str(f.invocations),
            _seconds_pair(f.local_p50, f.local_p95),
            _seconds_pair(f.lambda_p50, f.lambda_p95),
            f"{f.peak_mb:.0f}/{f.memory_mb}{KEEP}MB" if f.peak_mb is not None else f"-/{f.memory_mb}{KEEP}MB",
            f"${f.dollars * scale:.4f}",
            _seconds_pair(f.init_local_p50, f.init_lambda_p50),
        )
        for f in bill.functions
    ]
    header = ("function", "calls", "here p50/p95", "Lambda p50/p95", "peak/memory", "$/1k photos", "cold start")
    out = [table(header, rows, (16, 5, 14, 14, 14, 11, 12), lines=1)]
    lines = bill.per_thousand
    common = ", ".join(f"{name} ${lines[name]:.3f}" for name in ("Lambda", "S3 requests", "DynamoDB requests", "SNS"))
    chosen = "Standard" if bill.workflow_type == "STANDARD" else "Express"
    out += [
        f"\nPer 1,000 uploads like these (us-east-1, arm64, list prices; {chosen} is deployed):",
        *fit(f"  {common};", WIDTH, lines=3),
        f"  + Step Functions Standard ${lines['Step Functions Standard']:.3f} = ${bill.standard_total:.3f} in all",
        f"  + Step Functions Express ${lines['Step Functions Express (+ its logs)']:.3f} (with its logs)"
        f" = ${bill.express_total:.3f} in all",
        *fit(
            "cold start: a new worker's start-up (Init Duration) here / on Lambda, p50.",
            WIDTH,
            lines=2,
        ),
        *fit(
            f"Lambda durations predicted from the CPU time used here (1 s here ~ {calibration.speed:.2f} s on a"
            " Lambda vCPU) and each function's CPU share: docs/cost.md.",
            WIDTH,
            lines=3,
        ),
    ]
    out += [line for warning in bill.warnings for line in fit(f"warning: {warning}", WIDTH, lines=2)]
    return "\n".join(out)
