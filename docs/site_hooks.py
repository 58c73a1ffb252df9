"""MkDocs hooks (mkdocs.yml, `hooks:`): the README is the site's home page, and links to the
repository's own files work on the site as they do on GitHub.

The pages are written to be read on GitHub too, so their links are relative to where each
file sits in the repository: the README links `docs/cost.md`, a page links `../.env.example`
or `../README.md#run-it-locally`. On the site the README becomes `index.md` (one text, not a
copy to keep in step), and a repository file that a page links (`.env.example`,
`ops/verify-policy.json`, ...) is published under `repo/`, so the link still leads to it. A
link to a file that does not exist is left as it is: MkDocs then reports it, and `--strict`
fails the build. Mermaid (the diagrams) comes from the project's own npm packages, as the
console's does, so the site asks no CDN for it."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files, InclusionLevel

PROJECT = Path(__file__).resolve().parent.parent
DOCS = "docs"
PUBLISHED = "repo"
# [text](target) and ![alt](target); a target with a scheme or a bare #anchor is not a file
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|#|/)", re.I)
MERMAID = PROJECT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
MERMAID_ON_SITE = "assets/javascripts/mermaid.min.js"  # mkdocs.yml, extra_javascript
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def _repository_path(page_source: str, target: str) -> str:
    """A link's target as a path from the project folder (the README sits at the top)."""
    return posixpath.normpath(posixpath.join(posixpath.dirname(page_source), target))


def _site_path(repository_path: str) -> str:
    """Where a repository file is on the site: the README is the home page, `docs/` the
    site's own folder, anything else is published under `repo/`."""
    if repository_path == "README.md":
        return "index.md"
    if repository_path.startswith(f"{DOCS}/"):
        return repository_path.removeprefix(f"{DOCS}/")
    return f"{PUBLISHED}/{repository_path}"


def _links(markdown: str) -> list[str]:
    return [m.group(2) for m in LINK.finditer(FENCE.sub("", markdown)) if not EXTERNAL.match(m.group(2))]


def _repository_source(file: File) -> str:
    return "README.md" if file.src_uri == "index.md" else f"{DOCS}/{file.src_uri}"


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, "index.md", content=(PROJECT / "README.md").read_text()))
    if not MERMAID.is_file():
        raise PluginError(f"{MERMAID.relative_to(PROJECT)} is missing: `make setup` installs it")
    files.append(File.generated(config, MERMAID_ON_SITE, abs_src_path=str(MERMAID)))
    published: set[str] = set()
    for page in files.documentation_pages():
        source = _repository_source(page)
        for target in _links(page.content_string):
            path = _repository_path(source, target.split("#")[0])
            site = _site_path(path)
            if site.startswith(f"{PUBLISHED}/") and path not in published and (PROJECT / path).is_file():
                published.add(path)
                # included even when MkDocs would leave the name out by default (`.env.example`)
                source_file = str(PROJECT / path)
                files.append(File.generated(config, site, abs_src_path=source_file, inclusion=InclusionLevel.INCLUDED))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Each link as the site has it: relative to the page's place on the site."""
    source = _repository_source(page.file)

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(2)
        if EXTERNAL.match(target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        site = _site_path(_repository_path(source, path))
        relative = posixpath.relpath(site, posixpath.dirname(page.file.src_uri) or ".")
        return f"{match.group(1)}{relative}{'#' + anchor if anchor else ''}{match.group(3)}"

    parts = re.split(r"(^(?:```|~~~).*?^(?:```|~~~)[^\n]*$)", markdown, flags=re.S | re.M)
    return "".join(part if i % 2 else LINK.sub(rewrite, part) for i, part in enumerate(parts))
