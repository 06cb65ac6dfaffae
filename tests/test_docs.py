"""The documentation: a short README, a strict MkDocs site, no pointer outside the project.

The site is built for real (`mkdocs build --strict`), once as it is and once with a dangling
link planted in a copy, so the check is shown to catch what it is there for.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cp_simu.cli import SUBCOMMANDS, main
from tests.procs import REPO

# one worker runs this module: its tests share a module-scoped fixture
pytestmark = pytest.mark.xdist_group("docs_site")

MKDOCS = [sys.executable, "-m", "mkdocs"]
# Written in two halves so this file does not match itself.
OUTSIDE_POINTERS = re.compile("SP" + r"EC\b|\.\./" + "shared|SP" + r"EC\.md")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MKDOCS, "build", "--strict", "--site-dir", str(site)], cwd=project,
                          capture_output=True, text=True, timeout=120,
                          env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})


def _tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, timeout=30)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    return [REPO / name for name in listed.stdout.decode().split("\0") if name]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documentation site, built strictly once for the module's tests."""
    site = tmp_path_factory.mktemp("site")
    result = _build(REPO, site)
    assert result.returncode == 0, result.stderr
    return site


def test_site_builds_strictly(site: Path):
    for page in ("mqtt-api", "cli", "configuration", "chargepoint", "ocpp16", "launcher", "supervisor",
                 "csms", "performance"):
        assert (site / page / "index.html").is_file(), page


def test_a_dangling_link_fails_the_build(tmp_path: Path):
    project = tmp_path / "project"
    shutil.copytree(REPO / "docs", project / "docs")
    shutil.copy(REPO / "mkdocs.yml", project)
    shutil.copytree(REPO / "cp_simu", project / "cp_simu")  # docs/cli.md is generated from it
    with (project / "docs" / "index.md").open("a") as page:
        page.write("\nSee [the removal protocol](mqtt-api.md#no-such-section) and [gone](gone.md).\n")
    result = _build(project, tmp_path / "site")
    assert result.returncode != 0
    assert "gone.md" in result.stderr and "#no-such-section" in result.stderr


def test_cli_reference_is_generated_from_every_command(site: Path):
    page = (site / "cli" / "index.html").read_text()
    for name in SUBCOMMANDS:
        assert f"ocpp-simu {name} [OPTIONS]" in page, name
    assert "--max-setpoint-per-connector" in page and "--reject-prefix" in page


def test_readme_is_short_and_starts_with_the_two_commands():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    first_block = readme.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "docs/supervisor.png" in readme and "mosquitto_pub" in readme and "supervisor" in readme


def test_readme_links_point_at_files_that_exist():
    readme = (REPO / "README.md").read_text()
    local = [t for t in MARKDOWN_LINK.findall(readme) if not re.match(r"[a-z]+:", t)]
    assert any(t.startswith("docs/") for t in local)
    for target in local:
        assert (REPO / target.split("#")[0]).exists(), target


def test_no_file_points_outside_the_project():
    offenders = []
    for path in _tracked_files():
        if path.suffix in {".png", ".jpg", ".gz", ".zip"} or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE_POINTERS.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("args", [[], *([name] for name in SUBCOMMANDS)])
def test_help_texts_point_to_nothing_outside_the_project(args: list[str]):
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert not OUTSIDE_POINTERS.search(result.output), result.output
