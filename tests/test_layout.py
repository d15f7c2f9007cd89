"""The layout a newcomer reads: few modules at the package root, a short README whose links resolve.
(The direction of imports is checked by import-linter in scripts/test.sh, not here.)"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_package_root_holds_at_most_six_modules():
    modules = sorted(p.name for p in (ROOT / "surgical_seg").glob("*.py") if not p.name.startswith("__"))
    assert len(modules) <= 6, modules


def test_readme_is_a_front_door_and_its_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert any(link.startswith("docs/") and link.endswith(".md") for link in links)
    missing = [link for link in links if not link.startswith("http") and not (ROOT / link).exists()]
    assert not missing, missing


def test_docs_pages_link_to_files_that_exist():
    missing = []
    for page in (ROOT / "docs").glob("*.md"):
        for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if not link.startswith("http") and not (page.parent / link).exists():
                missing.append(f"{page.name}: {link}")
    assert not missing, missing
