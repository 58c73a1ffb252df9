"""What the command line prints: tables and command lines that fit a 100-column terminal.
Cells wrap (at most a few lines) and are shortened with an ellipsis beyond that; the full
detail stays in `run --json`."""

from __future__ import annotations

import shlex
import textwrap
from collections.abc import Sequence

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


def outcomes_table(outcomes: Sequence[Outcome]) -> str:
    """One row per upload: what it was called, what became of it and why, what it wrote."""
    rows = [
        (
            o.file,
            str(o.result),
            ", ".join(f"{x['kind']}{KEEP}{_kib(x['bytes'])}" for x in o.outputs) or "-",
            f"{o.seconds:.1f} s" if o.seconds is not None else "-",
        )
        for o in outcomes
    ]
    return table(("file", "result", "written", "time"), rows, (18, 38, 30, 6))


def progress_line(outcome: Outcome, done: int, total: int) -> str:
    time = f" ({outcome.seconds:.1f} s)" if outcome.seconds is not None else ""
    return fit(f"  [{done}/{total}] {outcome.file}: {outcome.result}{time}", WIDTH, lines=1)[0]


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
    against memorySize and the Lambda cost per 1,000 photos; then the whole bill per 1,000
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
        )
        for f in bill.functions
    ]
    header = ("function", "calls", "here p50/p95", "Lambda p50/p95", "peak/memory", "$/1k photos")
    out = [table(header, rows, (16, 5, 14, 14, 16, 11), lines=1)]
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
            f"Lambda durations predicted from the CPU time used here (1 s here ~ {calibration.speed:.2f} s on a"
            " Lambda vCPU) and each function's CPU share: docs/cost.md.",
            WIDTH,
            lines=3,
        ),
    ]
    out += [line for warning in bill.warnings for line in fit(f"warning: {warning}", WIDTH, lines=2)]
    return "\n".join(out)
