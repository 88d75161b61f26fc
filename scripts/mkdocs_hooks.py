"""MkDocs hook (mkdocs.yml): the repository files the manual links to outside docs/ (`../examples/*.jpg`,
`../benchmarks/RESULTS.md`, ...) are copied into the site under repo/, so those links resolve in the built manual as
they do on GitHub, and `mkdocs build --strict` still fails on a link whose file is missing. One copy of each file."""
from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, InclusionLevel

LINK = re.compile(r"\]\((\.\./[^)\s#]+)")  # a Markdown link or image whose target leaves docs/


class RepoFile(File):
    """A repository file outside docs/, copied as it is (a Markdown file too: not rendered as a page)."""

    def is_documentation_page(self) -> bool:
        return False

    def is_static_page(self) -> bool:
        return False


def on_files(files, config):
    docs = Path(config["docs_dir"]).resolve()
    root = docs.parent
    linked = set()
    for page in docs.rglob("*.md"):
        folder = page.parent.relative_to(docs).as_posix()
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            path = (page.parent / target).resolve()
            if path.is_file() and root in path.parents and docs not in path.parents:
                linked.add((posixpath.normpath(posixpath.join(folder, target)), path.relative_to(root).as_posix()))
    for src_uri, repo_path in sorted(linked):
        files.append(RepoFile(src_uri, config["docs_dir"], config["site_dir"], config["use_directory_urls"],
                              dest_uri=f"repo/{repo_path}", inclusion=InclusionLevel.INCLUDED))
    return files
