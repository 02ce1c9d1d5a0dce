"""`adamlab report DIR --html FILE`: one self-contained page, read as a DOM and, where a
Chromium is installed, rendered headless (its DOM and a screenshot that is not blank)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from experiments_testing import write_folder
from results_fixture import write_results
from test_experiments_embedding import embedding_records

from adamlab.cli.app import main

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class Dom(HTMLParser):
    """The page's elements: tags with their attributes, and its text."""

    def __init__(self, page: str):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str, **attrs) -> list[dict]:
        return [a for t, a in self.elements if t == tag
                and all(v in (a.get(k) or "").split() or a.get(k) == v for k, v in attrs.items())]


def write_page(capsys, folder: Path, out: Path) -> str:
    assert main(["report", str(folder), "--html", str(out)]) == 0, capsys.readouterr().err
    assert f"wrote {out}" in capsys.readouterr().out
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def claims_page(tmp_path_factory) -> Path:
    """The page of a folder whose every claim holds (written once: drawing takes a while)."""
    root = tmp_path_factory.mktemp("html")
    folder = write_folder(root / "embedding_sparsity", embedding_records(), "embedding_sparsity")
    assert main(["report", str(folder), "--html", str(root / "report.html")]) == 0
    return root / "report.html"


def test_page_holds_claims_tables_figures_and_provenance_offline(claims_page):
    page = claims_page.read_text(encoding="utf-8")
    dom = Dom(page)
    sections = [a["id"] for a in dom.all("section")]
    assert sections == ["claims", "summary", "figures", "sweep", "provenance"]
    verdicts = dom.all("span", **{"class": "verdict"})
    assert verdicts and {v["data-verdict"] for v in verdicts} == {"holds"}
    assert all("holds" in v["class"].split() for v in verdicts)
    assert ".holds {" in page and ".fails {" in page  # each verdict has its colour
    assert dom.all("table", **{"class": "summary"})
    images = dom.all("img")
    assert images and all(i["src"].startswith("data:image/png;base64,") for i in images)
    # nothing is fetched: no link, script or stylesheet leaves the file
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page)
    assert not dom.all("script") and not dom.all("link")
    assert "__curves__test_loss.png" in " ".join(i["alt"] for i in images)


def test_a_folder_no_experiment_applies_to_gets_no_claims(capsys, tmp_path):
    folder = write_results(tmp_path / "hand")
    dom = Dom(write_page(capsys, folder, tmp_path / "hand.html"))
    assert [a["id"] for a in dom.all("section")] == ["summary", "figures", "sweep", "provenance"]
    assert not dom.all("span", **{"class": "verdict"})
    text = " ".join(dom.text)
    assert "lr_sensitivity" in text and "Sweep hand" in text


def test_html_needs_an_html_name(capsys, tmp_path):
    folder = write_results(tmp_path / "hand")
    assert main(["report", str(folder), "--html", str(tmp_path / "x.png")]) == 1
    assert capsys.readouterr().err.strip().endswith("name the page *.html")


def _browser() -> str | None:
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


@pytest.mark.skipif(_browser() is None, reason="no headless Chromium installed (Debian: apt-get "
                    "install chromium); the page's DOM is still checked by the tests above")
def test_page_renders_in_headless_chromium(tmp_path, claims_page):
    from matplotlib.image import imread

    page_path = claims_page
    browser = _browser()
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", page_path.as_uri()], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    rendered = Dom(dom)
    assert [a["id"] for a in rendered.all("section")] == [
        "claims", "summary", "figures", "sweep", "provenance"]
    assert len(rendered.all("img")) == len(Dom(page_path.read_text()).all("img"))
    shot = tmp_path / "shot.png"
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1200,1600",
                    page_path.as_uri()], capture_output=True, timeout=120, check=True)
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (1600, 1200)
    # not blank: many colours, and dark text on the light page
    colours = {tuple(p) for p in (pixels[::7, ::7].reshape(-1, 3) * 255).astype(int).tolist()}
    assert len(colours) > 50
    assert (pixels.mean(axis=2) < 0.3).mean() > 0.005
