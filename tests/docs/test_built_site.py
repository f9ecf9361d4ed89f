"""The built documentation site: readable, complete, and browsable from disk.

Builds the site with ``mkdocs build --strict`` into a temporary directory (about 10 s), where
MkDocs is installed (the ``docs`` extra); elsewhere it is skipped with the reason. CI runs
this module again after installing the docs extra, with ``TRIO_WS_REQUIRE_DOCS=1`` so that a
missing MkDocs fails instead of skipping (``.ci/run``).

What it checks, on the HTML a reader gets:

- no raw Sphinx roles (``:class:`X```) on any page, API reference or guide, and no RST
  literal-block markers (``Example::``) in the reference;
- the API reference shows every public name of ``trio_ws`` and ``trio_ws.testing``, on
  pages of a scannable size, and no private one: no ``trio_ws._module`` path, no heading for a
  name outside ``__all__``, no private class among the bases;
- every link between pages points at a file that exists (``use_directory_urls: false``), so
  the site works opened from disk as well as served.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import trio_ws
import trio_ws.metrics
import trio_ws.observe
import trio_ws.testing

ROOT = Path(__file__).resolve().parents[2]
RAW_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|exc|data|mod|obj|ref|const|term):`")
PRIVATE_PATH = re.compile(r"\btrio_ws(?:\.\w+)*\._(?!_all__)\w+")  # __all__ is public
# A page a person can scan: the old single reference page was 390 KB of HTML (58,000 px).
MAX_REFERENCE_PAGE_BYTES = 160_000
#: The public modules below `trio_ws` and their public names.
PUBLIC_MODULES = {
    "testing": trio_ws.testing.__all__,
    "observe": trio_ws.observe.__all__,
    "metrics": trio_ws.metrics.__all__,
}
TAG = re.compile(r"<[^>]+>")
PRE = re.compile(r"<pre\b.*?</pre>", re.DOTALL)


def text_of(page: Path) -> str:
    """The page's text as a reader sees it: tags dropped, entities decoded."""
    return html.unescape(TAG.sub("", page.read_text()))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("mkdocs") is None:
        if os.environ.get("TRIO_WS_REQUIRE_DOCS"):
            pytest.fail("MkDocs is not installed but TRIO_WS_REQUIRE_DOCS is set")
        pytest.skip("MkDocs is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert build.returncode == 0, build.stderr
    return out


def html_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def reference_pages(site: Path) -> list[Path]:
    return sorted(site.glob("reference*.html"))


def test_no_reference_page_shows_an_rst_literal_marker(site: Path) -> None:
    """A docstring's ``Example::`` renders as the text "Example::" in Markdown."""
    found = {}
    for page in reference_pages(site):
        prose = html.unescape(TAG.sub("", PRE.sub("", page.read_text())))
        markers = [line.strip() for line in prose.splitlines() if line.rstrip().endswith("::")]
        if markers:
            found[page.name] = markers
    assert found == {}


def test_no_page_shows_a_raw_sphinx_role(site: Path) -> None:
    found = {
        page.name: RAW_ROLE.findall(text_of(page))
        for page in html_pages(site)
        if RAW_ROLE.search(text_of(page))
    }
    assert found == {}


def test_the_reference_documents_every_public_name(site: Path) -> None:
    anchors = set()
    for page in reference_pages(site):
        anchors.update(re.findall(r'id="(trio_ws[\w.]*)"', page.read_text()))
    public = {f"trio_ws.{name}" for name in trio_ws.__all__}
    for module, names in PUBLIC_MODULES.items():
        public |= {f"trio_ws.{module}.{name}" for name in names}
    assert public - anchors == set()


def test_the_reference_shows_no_private_name(site: Path) -> None:
    public = set(trio_ws.__all__).union(*PUBLIC_MODULES.values())
    for page in reference_pages(site):
        source = page.read_text()
        text = text_of(page)
        assert PRIVATE_PATH.findall(text) == [], page.name
        # Headings of objects: trio_ws.Name or trio_ws.testing.Name, then members.
        for anchor in re.findall(r'id="(trio_ws[\w.]*)"', source):
            parts = anchor.split(".")
            top = parts[2] if parts[1] in PUBLIC_MODULES and len(parts) > 2 else parts[1]
            assert top in public, f"{page.name}: {anchor} is not a public name"
            assert not any(part.startswith("_") for part in parts), f"{page.name}: {anchor}"
        for bases in re.findall(r"Bases: ([^\n]*)", text):
            for base in re.findall(r"[A-Za-z_]\w*", bases):
                defined_here = any(
                    base == cls.__name__
                    for cls in _classes_defined_in_trio_ws()
                    if cls.__name__ not in public
                )
                assert not defined_here, f"{page.name}: private base class {base} is shown"


def _classes_defined_in_trio_ws() -> list[type]:
    classes = []
    for name, module in list(sys.modules.items()):
        if name == "trio_ws" or name.startswith("trio_ws."):
            classes.extend(
                value
                for value in vars(module).values()
                if isinstance(value, type) and value.__module__.startswith(name)
            )
    return classes


def test_the_private_base_of_websocket_is_known_to_the_check() -> None:
    """The base-class check sees trio_ws's private classes (ScopeView is WebSocket's base)."""
    names = {cls.__name__ for cls in _classes_defined_in_trio_ws()}
    assert "ScopeView" in names
    assert "ScopeView" not in trio_ws.__all__


def test_websocket_shows_the_request_views_it_inherits(site: Path) -> None:
    """``url``, ``headers``, ... come from the private base class and must still be listed."""
    source = (site / "reference-websocket.html").read_text()
    for member in ("url", "base_url", "headers", "query_params", "cookies", "client", "state"):
        assert f'id="trio_ws.WebSocket.{member}"' in source, member


def test_reference_pages_are_of_a_size_to_scan(site: Path) -> None:
    pages = reference_pages(site)
    assert len(pages) >= 8
    sizes = {page.name: page.stat().st_size for page in pages}
    assert max(sizes.values()) <= MAX_REFERENCE_PAGE_BYTES, sizes


def test_every_link_between_pages_opens_a_file(site: Path) -> None:
    """With use_directory_urls: false, links name .html files that exist, so the site works
    from file:// (a link to a directory would show a listing)."""
    broken = []
    for page in html_pages(site):
        if page.name == "404.html":
            continue  # served for any missing path, so MkDocs links it from the site root

        for href in re.findall(r'href="([^"]*)"', page.read_text()):
            parts = urlsplit(html.unescape(href))
            if parts.scheme or parts.netloc or not parts.path:
                continue  # external, or an anchor on the same page
            target = (page.parent / unquote(parts.path)).resolve()
            if parts.path.endswith("/") or not target.is_file():
                broken.append(f"{page.relative_to(site)} -> {href}")
    assert broken == []
