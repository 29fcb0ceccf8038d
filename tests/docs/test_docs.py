"""The documentation: the MkDocs site builds with every link and anchor resolving, the README stays a short
front page that starts with the two commands, its links lead somewhere, and its first config is valid."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from tests.support import ROOT

README = ROOT / "README.md"
README_MAX_BYTES = 12_500
SERVICE_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -q -r requirements/service.txt && "
    ".venv/bin/pip install -q --no-deps --no-build-isolation . && .venv/bin/channel-monitor"
)
TEST_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -q -r requirements/test.txt && "
    ".venv/bin/pip install -q --no-deps --no-build-isolation -e . && .venv/bin/pytest"
)
CHANNEL_MONITOR = Path(sys.executable).with_name("channel-monitor")  # the installed console script


def build_site(site_dir: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` (as .ci/run runs it) into site_dir."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    done = build_site(site_dir)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}{done.stderr}"
    return site_dir


def test_the_site_builds_strictly_so_every_link_and_anchor_resolves(tmp_path: Path) -> None:
    done = build_site(tmp_path / "site")
    # Strict mode turns each broken link, missing anchor or page left out of the nav into a failure (mkdocs.yml
    # sets `validation` so that anchors count too); the warnings say which.
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}{done.stderr}"
    assert "WARNING" not in done.stderr, done.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").is_file()


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    raw = README.read_bytes()
    assert len(raw) <= README_MAX_BYTES, (
        f"README.md is {len(raw):,} bytes, over {README_MAX_BYTES:,}: move the detail to a page in docs/ and link it"
    )
    assert raw.decode().startswith(f"# channel-monitor\n\n```bash\n{SERVICE_COMMAND}\n```\n```bash\n{TEST_COMMAND}\n```\n")


def readme_links() -> list[str]:
    """The README's relative link targets (external URLs and in-page anchors left out)."""
    links = re.findall(r"\]\(([^)\s]+)\)", README.read_text(encoding="utf-8"))
    return [link for link in links if not re.match(r"^[a-z]+:", link) and not link.startswith("#")]


@pytest.mark.parametrize("link", readme_links())
def test_each_readme_link_leads_to_a_file_and_anchor_that_exist(link: str, site: Path) -> None:
    path, _, anchor = unquote(link).partition("#")
    assert (ROOT / path).exists(), f"README links to {path}, which does not exist"
    if anchor:
        assert path.startswith("docs/") and path.endswith(".md"), f"{link}: anchors are checked on docs pages only"
        page = Path(path).relative_to("docs").with_suffix("")
        html = site / (page.parent if page.name == "index" else page) / "index.html"
        assert f'id="{anchor}"' in html.read_text(encoding="utf-8"), f"README links to #{anchor}, not a heading of {path}"


def readme_configs() -> list[str]:
    """The README's YAML blocks that are whole configs (they have channels)."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    return [block for block in blocks if isinstance(yaml.safe_load(block), dict) and "channels" in yaml.safe_load(block)]


def test_the_readme_shows_a_first_real_config_that_validates(tmp_path: Path) -> None:
    [config] = readme_configs()
    path = tmp_path / "channels.yaml"
    path.write_text(config, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}  # its ${SHOP_URL:-...} defaults apply
    done = subprocess.run(
        [str(CHANNEL_MONITOR), "check-config", "--config", str(path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"{path}: OK, 2 channels, 4 checks\n"), done.stdout
