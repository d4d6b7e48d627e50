"""The status page in a real headless Chromium: it lists the images and its search filters."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.flows.index_page import write_outputs
from bot.records.index import Index, IndexEntry, QueueEntry
from bot.records.record import RecordedImage
from tests.fixtures import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=3000"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium is installed by scripts/setup.sh")
    return found


def sample_index() -> Index:
    index = Index(generated_at="2026-11-29T12:00:00Z",
                  last_resync={"started_at": "2026-11-29T11:00:00Z",
                               "finished_at": "2026-11-29T11:05:00Z", "counts": {"unchanged": 3}})
    for source in ("docker.io/library/nginx:1.27", "docker.io/bitnami/redis:7.4",
                   "ghcr.io/fluxcd/flux-cli:v2.4.0"):
        index.add(IndexEntry(RecordedImage(source, f"m.example.io/{source}", "sha256:" + "ab" * 32),
                             last_sync="2026-11-29T11:05:00Z",
                             issue=7, issue_url="https://github.com/acme/mirror/issues/7"))
    index.queue.append(QueueEntry(9, "quay.io/prometheus/prometheus:v3.0.0 <script>", "", "failing"))
    return index


def render_dom(page: Path, query: str, tmp_path: Path) -> str:
    completed = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         f"{page.as_uri()}{query}"], capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def visible_rows(dom: str) -> list[str]:
    body = dom.split('<tbody>', 1)[1].split('</tbody>', 1)[0]
    rows = re.findall(r"<tr([^>]*)>(.*?)</tr>", body, re.DOTALL)
    return [re.search(r"<code>([^<]+)</code>", cells)[1] for attrs, cells in rows
            if "hidden" not in attrs]


def test_page_lists_images_and_search_filters(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_outputs(sample_index(), None, site)
    page = site / "index.html"
    assert "&lt;script&gt;" in page.read_text()  # queue titles are escaped
    everything = visible_rows(render_dom(page, "", tmp_path))
    assert everything == ["m.example.io/docker.io/bitnami/redis:7.4",
                          "m.example.io/docker.io/library/nginx:1.27",
                          "m.example.io/ghcr.io/fluxcd/flux-cli:v2.4.0"]
    filtered_dom = render_dom(page, "?q=redis", tmp_path)
    assert visible_rows(filtered_dom) == ["m.example.io/docker.io/bitnami/redis:7.4"]
    assert "1 of 3 shown" in filtered_dom
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "status-page.png"
    subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'shot'}",
                    f"--screenshot={screenshot}", "--window-size=1280,800", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert screenshot.stat().st_size > 10_000
    assert (site / "index.json").exists()


def test_the_page_in_chinese_filters_and_counts_in_chinese(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_outputs(sample_index(), None, site, language="zh-CN")
    page = site / "index.html"
    assert '<html lang="zh-CN">' in page.read_text()
    dom = render_dom(page, "?q=redis", tmp_path)
    assert visible_rows(dom) == ["m.example.io/docker.io/bitnami/redis:7.4"]
    assert "显示 1 / 3" in dom and "镜像同步状态" in dom
