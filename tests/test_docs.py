"""The README as a front page and the manual's pictures: its size, that it opens with the picture and the two
commands, that every relative link resolves (into docs/: a page of the manual's nav), and that every picture shown
has a recipe in scripts/refresh_pictures.py whose command its caption names. `mkdocs build --strict` (make docs,
.ci/run) checks the manual's own links."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

from .conftest import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")  # [text](target), ![alt](target); alt may span lines
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".svg")


def links(text: str) -> list[tuple[bool, str]]:
    """(is an image, target) of each Markdown link, code blocks and inline code left out."""
    text = re.sub(r"^(?: {4}|\t).*$", "", text, flags=re.M)  # indented code blocks
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [(bang == "!", target) for bang, _, target in LINK.findall(text)]


def relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target)


def slug(heading: str) -> str:
    """The anchor MkDocs (and GitHub, for these headings) gives a heading."""
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", heading.strip().lower()))


def anchors(page: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in page.read_text().splitlines() if re.match(r"^#{1,6} ", line)}


def nav_pages() -> set[str]:
    """The pages mkdocs.yml's nav names (docs/ paths)."""
    return set(re.findall(r"^\s*- [^:\n]+: (\S+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M))


def test_the_readme_is_at_most_12_kb():
    assert README.stat().st_size <= 12 * 1024, f"README.md is {README.stat().st_size} bytes: move detail to docs/"


def test_the_readme_opens_with_the_picture_and_the_two_commands():
    text = README.read_text()
    first_image = text.index("![")
    assert first_image < text.index("\n## "), "the hero picture comes before the first section"
    commands = re.findall(r"^ {4}(\S.*)$", text, flags=re.M)
    assert commands[:2] == ["make demo", "make test"], commands[:2]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M), ".ci/run runs the README's test command"


def test_every_relative_link_in_the_readme_resolves():
    found = links(README.read_text())
    assert len(found) >= 10  # the parser sees the links (the hero picture, the feature list, RESULTS.md)
    for image, target in found:
        if not relative(target):
            continue
        path_part, _, anchor = target.partition("#")
        path = (ROOT / unquote(path_part)).resolve()
        assert path.is_file() and ROOT in path.parents, f"README.md links to {target}: no such file in the repo"
        assert path.relative_to(ROOT).parts[0] not in ("outputs", "site", ".venv"), f"{target} is not committed"
        if image:
            assert path.suffix.lower() in IMAGE_SUFFIXES, target
        if path.suffix == ".md" and anchor:
            assert anchor in anchors(path), f"README.md links to {target}: no such heading"


def test_every_readme_link_into_docs_names_a_page_of_the_manual():
    pages = nav_pages()
    assert "index.md" in pages and "options.md" in pages
    assert {p for p in pages if not (DOCS / p).is_file()} == set(), "mkdocs.yml's nav names missing pages"
    into_docs = [t.partition("#")[0] for _, t in links(README.read_text()) if t.startswith("docs/")]
    assert len(into_docs) >= 10, into_docs  # each feature links to its page
    for target in into_docs:
        assert target.endswith(".md") and target.removeprefix("docs/") in pages, f"{target} is not a manual page"


def shown_pictures() -> dict[str, list[tuple[Path, str]]]:
    """Each picture README.md and docs/*.md show (a repository path) -> (page, the caption: the text after it up to
    the next picture or heading, whitespace folded) for each place it is shown."""
    shown: dict[str, list[tuple[Path, str]]] = {}
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        text = page.read_text()
        for match in re.finditer(r"!\[[^\]]*\]\(([^)\s]+)\)", text):
            target = match.group(1)
            if not relative(target):
                continue
            path = (page.parent / unquote(target)).resolve()
            assert path.is_file(), f"{page.name} shows {target}: no such file"
            rest = text[match.end():]
            end = min([m.start() for m in re.finditer(r"!\[|^#", rest, flags=re.M)] + [len(rest)])
            caption = " ".join(rest[:end].replace("`", "").split())
            shown.setdefault(path.relative_to(ROOT).as_posix(), []).append((page, caption))
    return shown


def listed_recipes() -> dict[str, list[str]]:
    """scripts/refresh_pictures.py --list: picture path -> its commands."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "refresh_pictures.py"), "--list"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    recipes, pictures = {}, []
    for line in out.splitlines():
        if line.startswith("    "):
            for picture in pictures:
                recipes[picture].append(line.strip())
        else:
            pictures = line.split(": ", 1)[1].split()
            recipes.update({picture: [] for picture in pictures})
    return recipes


def test_every_picture_shown_has_a_recipe_and_its_caption_names_the_command():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from refresh_pictures import recipes
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    shown = shown_pictures()
    assert "examples/demo_sheet.jpg" in shown and "examples/web_page.png" in shown
    listed = listed_recipes()
    missing = sorted(set(shown) - set(listed))
    assert not missing, f"pictures shown without a recipe in scripts/refresh_pictures.py: {missing}"
    assert all(listed[p] for p in listed), "every recipe has a command"
    by_picture = {picture: recipe for recipe in recipes().values() for picture in recipe.pictures}
    for picture, places in shown.items():
        caption = " ".join(by_picture[picture].caption.replace("'", "").split())
        assert any(caption in " ".join(c.split()) for c in listed[picture]), f"{picture}: caption not in a command"
        for page, text in places:
            assert caption in text.replace("'", ""), f"{page.name}: the caption of {picture} does not name {caption!r}"
