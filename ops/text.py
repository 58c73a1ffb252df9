"""What operator commands print: lines that fit a 100-column terminal, and durations."""

from __future__ import annotations

import textwrap

WIDTH = 100


def fit(text: str, width: int = WIDTH) -> str:
    """One line of at most `width` columns, shortened with an ellipsis."""
    text = " ".join(text.splitlines()).replace("\t", " ").rstrip()
    return text if len(text) <= width else text[: width - 1] + "…"


def wrap(text: str, width: int = WIDTH, indent: str = "  ") -> str:
    """A message on as many lines as it needs, none wider than `width` (later ones indented)."""
    return "\n".join(textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False)) or text


def middle(text: str, width: int) -> str:
    """At most `width` columns, shortened in the middle (keeps both ends of names and keys)."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def seconds(value: float) -> str:
    value = max(0.0, value)
    if value < 60:
        return f"{value:.0f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
