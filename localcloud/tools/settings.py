"""The stage's settings as `sls deploy` resolves them, to show what a stage changed: the
defaults come from serverless.yml's `${env:NAME, 'default'}` (the one place they are written),
the values from the environment and the stage's dotenv file, which the Serverless CLI reads
(`useDotenv`: `.env.<stage>` if it exists, otherwise `.env`; a variable already in the
environment is not overridden)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from localcloud import PROJECT

# ${env:NAME}, ${env:NAME, 'default'}, ${env:NAME, "default"} or ${env:NAME, 5}
_ENV_VARIABLE = re.compile(r"""\$\{env:(\w+)(?:\s*,\s*(?:'([^']*)'|"([^"]*)"|([^\s}]*)))?\s*\}""")


@dataclass(frozen=True)
class Setting:
    name: str
    value: str
    default: str
    source: str  # the dotenv file's name, or "environment"


def defaults(template: Path = PROJECT / "serverless.yml") -> dict[str, str]:
    """Every variable serverless.yml reads, with its default ('' where it has none)."""
    found: dict[str, str] = {}
    for match in _ENV_VARIABLE.finditer(template.read_text()):
        name, *written = match.groups()
        found.setdefault(name, next((value for value in written if value is not None), ""))
    return found


def dotenv_file(stage: str, folder: Path = PROJECT) -> Path | None:
    """The file the Serverless CLI reads for `stage`, if any."""
    return next((path for path in (folder / f".env.{stage}", folder / ".env") if path.is_file()), None)


def changed(stage: str, environ: Mapping[str, str] | None = None, folder: Path = PROJECT) -> list[Setting]:
    """The settings whose value for this deploy is not serverless.yml's default."""
    environ = os.environ if environ is None else environ
    dotenv = dotenv_file(stage, folder)
    from_file = {k: v or "" for k, v in dotenv_values(dotenv).items()} if dotenv else {}
    found = []
    for name, default in defaults(folder / "serverless.yml").items():
        if name in environ:
            value, source = environ[name], "environment"
        elif name in from_file:
            value, source = from_file[name], dotenv.name if dotenv else ""
        else:
            continue
        if value != default:
            found.append(Setting(name, value, default, source))
    return found
