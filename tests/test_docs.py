"""The README and the documentation site: a short README whose first screen holds the two commands, and a site
that MkDocs builds with --strict (every link and anchor found), from files of its own, with every page in its nav."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from support import ROOT
from support.docs_pages import DOCS, headings, section

README = ROOT / "README.md"
FIRST_SCREEN = 24  # lines: a terminal's height, and what a repository's page shows before scrolling
LINK = re.compile(r"(?<!!)\[[^\]]+\]\(([^)\s]+)\)")


class Tags(HTMLParser):
    """Each element's attributes, to find ids (anchors) and what a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.loaded: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag in {"script", "img", "iframe"} and found.get("src"):
            self.loaded.append(str(found["src"]))
        if tag == "link" and found.get("href"):
            self.loaded.append(str(found["href"]))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(built)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return built


def tags_of(site: Path, page: str) -> Tags:
    """The built HTML of docs/PAGE (MkDocs writes page.md as page/index.html, index.md as index.html)."""
    name = Path(page).stem
    tags = Tags()
    tags.feed((site / ("index.html" if name == "index" else f"{name}/index.html")).read_text(encoding="utf-8"))
    return tags


def nav_pages() -> list[str]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    return [page for entry in config["nav"] for page in entry.values()]


def test_the_site_builds_strictly_and_every_page_is_in_its_nav(site: Path) -> None:
    pages = sorted(path.name for path in DOCS.glob("*.md"))
    assert sorted(nav_pages()) == pages
    for page in pages:
        assert (site / ("index.html" if page == "index.md" else f"{Path(page).stem}/index.html")).is_file(), page


def test_the_site_needs_no_internet(site: Path) -> None:
    """Scripts, styles, fonts and pictures are the site's own files: it reads the same offline."""
    for page in nav_pages():
        loaded = tags_of(site, page).loaded
        assert loaded and not [url for url in loaded if re.match(r"^(https?:)?//", url)], (page, loaded)


def test_the_strict_build_fails_on_a_link_to_a_heading_no_page_has(tmp_path: Path) -> None:
    """What makes a moved section's broken link fail `make test`: a wrong anchor, not only a missing page."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\nSee [deploying](deploying.md#no-such-heading).\n", encoding="utf-8")
    (docs / "deploying.md").write_text("# Deploying\n\n## Logs\n", encoding="utf-8")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    config.update(nav=["index.md", "deploying.md"], docs_dir=str(docs))
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "no-such-heading" in done.stderr


def test_the_readme_is_short_and_its_first_screen_has_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 250
    screen = "\n".join(text.splitlines()[:FIRST_SCREEN])
    blocks = re.findall(r"^```sh\n(.*?)^```$", screen, re.MULTILINE | re.DOTALL)
    assert screen.count("```") == 2 and len(blocks) == 1, "the first screen holds one block of commands"
    commands = [line.split("#")[0].strip() for line in blocks[0].splitlines()]
    assert commands == ["make run", "make test"]
    # both are targets of the Makefile that make can plan on a fresh checkout
    subprocess.run(["make", "-n", "run", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)


def test_links_in_the_readme_point_to_pages_that_exist_and_reach_every_page(site: Path) -> None:
    links = LINK.findall(README.read_text(encoding="utf-8"))
    pages = set(nav_pages())
    linked = set()
    for link in links:
        if re.match(r"^[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        assert (ROOT / path).exists(), link
        if path.startswith("docs/") and path.endswith(".md"):
            page = path.removeprefix("docs/")
            assert page in pages, f"{link}: not in mkdocs.yml's nav"
            linked.add(page)
            assert not anchor or anchor in tags_of(site, page).ids, f"{link}: no such heading"
    assert linked == pages, f"the README sends nobody to {sorted(pages - linked)}"


def test_the_home_page_makes_the_readmes_promises_and_lists_its_guides() -> None:
    readme = README.read_text(encoding="utf-8")
    promises = re.search(r"^## Promises to callers\n.*?(?=^## )", readme, re.MULTILINE | re.DOTALL)
    assert promises
    # the README links a file of the repository, which the site can only name
    assert re.sub(r"\[(`[^`]+`)\]\([^)]+\)", r"\1", promises[0]).strip() == section("index.md", "Promises to callers").strip()
    guides = " ".join(section("index.md", "The guides").split("\n", 1)[1].split())
    where = " ".join(readme.split("\n## Where to go next\n", 1)[1].split())
    assert guides.replace("](", "](docs/") in where  # the same list, each link from the README's folder


def test_each_page_has_one_title_and_headings_that_nest() -> None:
    for page in nav_pages():
        found = headings((DOCS / page).read_text(encoding="utf-8"))
        assert found and found[0][:2] == (0, 1), f"docs/{page} starts with its title"
        assert [level for _, level, _ in found].count(1) == 1, page
        for (_, above, _), (_, level, title) in zip(found, found[1:], strict=False):
            assert level <= above + 1, f"docs/{page}: {title!r} skips a level"
