"""The status page in a real headless Chromium, in each language: it lists the images with the
platforms mirrored, tells times as how long ago (the exact UTC time on hover), fills the queue's
Opened column, filters by search, and its screenshot shows it."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot import timestamps
from bot.flows.index_page import write_outputs
from bot.records.index import Index, IndexEntry, QueueEntry
from bot.records.record import RecordedImage
from tests.fixtures import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=3000"]
WIDTH, HEIGHT = 1280, 900
MIRROR = "registry.example.cn/mirror"
# Platforms as the upstream indexes list them (docker.io/library/nginx:1.27 and
# ghcr.io/fluxcd/flux-cli:v2.4.0 on their registries, arm64/v8 written linux/arm64).
NGINX_PLATFORMS = ("linux/amd64", "linux/arm/v5", "linux/arm/v7", "linux/arm64", "linux/386",
                   "linux/mips64le", "linux/ppc64le", "linux/s390x")
FLUX_PLATFORMS = ("linux/amd64", "linux/arm/v7", "linux/arm64")
# What each language says for the sample's times (see sample_index).
SAID = {
    "en": {"nginx": "3 hours ago", "flux": "2 days ago", "queued": "25 minutes ago",
           "failing": "1 day ago", "generated": "just now"},
    "zh-CN": {"nginx": "3 小时前", "flux": "2 天前", "queued": "25 分钟前",
              "failing": "1 天前", "generated": "刚刚"},
}


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is missing, and CI must run the status page's screenshot test: "
                    "scripts/setup.sh --for-tests installs it (make test does)")
    pytest.skip("chromium is not installed (scripts/setup.sh --for-tests installs it); "
                "under CI=true this test fails instead")


def entry(source: str, ago: timedelta, clock: datetime, *, served: tuple[str, ...] = (),
          platforms: tuple[str, ...] = (), issue: int = 7) -> IndexEntry:
    at = timestamps.to_text(clock - ago)
    return IndexEntry(RecordedImage(source, f"{MIRROR}/{source}", "sha256:" + "ab" * 32,
                                    platforms, at, served=served),
                      last_sync=at, issue=issue,
                      issue_url=f"https://github.com/acme/mirror/issues/{issue}")


def sample_index(clock: datetime) -> Index:
    """A realistic page at `clock`: whole copies with the platforms they serve, a subset, a
    record written before platforms were recorded, an open request and a failing one."""
    index = Index(generated_at=timestamps.to_text(clock), last_resync={
        "started_at": timestamps.to_text(clock - timedelta(hours=1, minutes=20)),
        "finished_at": timestamps.to_text(clock - timedelta(hours=1, minutes=10)),
        "counts": {"unchanged": 4, "copied": 1}})
    # Minutes past each unit's start, so the page's script, counting a few seconds later from
    # the same clock, says the same.
    for item in (
            entry("docker.io/library/nginx:1.27", timedelta(hours=3, minutes=20), clock,
                  served=NGINX_PLATFORMS, issue=12),
            entry("ghcr.io/fluxcd/flux-cli:v2.4.0", timedelta(days=2, hours=5), clock,
                  served=FLUX_PLATFORMS, issue=15),
            entry("docker.io/bitnami/redis:7.4", timedelta(minutes=47, seconds=30), clock,
                  served=("linux/amd64", "linux/arm64"), issue=18),
            entry("registry.k8s.io/pause:3.10", timedelta(days=40), clock,
                  platforms=("linux/arm64",), served=("linux/arm64",), issue=21),
            entry("quay.io/prometheus/prometheus:v3.0.0", timedelta(days=400), clock, issue=3)):
        index.add(item)
    index.queue += [
        QueueEntry(31, "docker.io/grafana/grafana:11.4.0", "https://github.com/acme/mirror/issues/31",
                   "pending", timestamps.to_text(clock - timedelta(minutes=25, seconds=30))),
        QueueEntry(29, "quay.io/jetstack/cert-manager-controller:v1.16.2 <script>", "",
                   "failing", timestamps.to_text(clock - timedelta(days=1, hours=2)))]
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


def cells(html: str, table: str) -> dict[str, list[str]]:
    """Each row of the table with id `table`, by its first code or link text: its cells."""
    body = html.split(f'<table id="{table}">', 1)[1].split("</tbody>", 1)[0]
    found = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.split("<tbody>", 1)[1], re.DOTALL):
        columns = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
        found[re.sub(r"<[^>]+>", "", columns[0]).split()[0]] = columns
    return found


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) pixels of an 8-bit, non-interlaced PNG (as Chromium
    writes its screenshots), its filters undone."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunk = data[position + 8:position + 8 + length]
        header = chunk if kind == b"IHDR" else header
        idat += chunk if kind == b"IDAT" else b""
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, colour, interlace) in {(8, 2, 0), (8, 6, 0)}, (depth, colour, interlace)
    size = 3 if colour == 2 else 4
    raw, stride, rows = zlib.decompress(idat), width * size, []
    previous = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        for x in range(stride):
            left = row[x - size] if x >= size else 0
            up, corner = previous[x], previous[x - size] if x >= size else 0
            if kind == 1:
                row[x] = (row[x] + left) & 0xFF
            elif kind == 2:
                row[x] = (row[x] + up) & 0xFF
            elif kind == 3:
                row[x] = (row[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                near = min((abs(guess - left), 0, left), (abs(guess - up), 1, up),
                           (abs(guess - corner), 2, corner))[2]
                row[x] = (row[x] + near) & 0xFF
        rows.append(bytes(row[i] for i in range(stride) if size == 3 or i % 4 != 3))
        previous = row
    return width, height, rows


def screenshot(page: Path, name: str, tmp_path: Path) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    shot.unlink(missing_ok=True)
    subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'shot'}",
                    f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    return shot


def assert_not_blank(shot: Path) -> None:
    width, height, rows = png_pixels(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    background = rows[0][:3]
    pixels = [row[i:i + 3] for row in rows for i in range(0, len(row), 3)]
    drawn = sum(pixel != background for pixel in pixels)
    assert drawn > len(pixels) // 100, f"{drawn} of {len(pixels)} pixels differ from the background"
    assert len(set(pixels)) > 16  # text, borders, the header row: not one flat colour


def test_page_lists_images_escaped(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_outputs(sample_index(timestamps.now()), None, site)
    page = site / "index.html"
    assert "&lt;script&gt;" in page.read_text()  # queue titles are escaped
    everything = visible_rows(render_dom(page, "", tmp_path))
    assert everything == [f"{MIRROR}/{source}" for source in (
        "docker.io/bitnami/redis:7.4", "docker.io/library/nginx:1.27",
        "ghcr.io/fluxcd/flux-cli:v2.4.0", "quay.io/prometheus/prometheus:v3.0.0",
        "registry.k8s.io/pause:3.10")]
    assert (site / "index.json").exists()


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_screenshot_shows_platforms_relative_times_and_when_requests_were_opened(
        language: str, tmp_path: Path) -> None:
    if language == "zh-CN":
        fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True,
                               check=True).stdout
        assert fonts.strip(), "no CJK font: install fonts-noto-cjk (scripts/setup.sh --for-tests)"
    clock = timestamps.parse(timestamps.now_text())
    assert clock is not None
    site = tmp_path / "site"
    write_outputs(sample_index(clock), None, site, language=language, clock=clock)
    page = site / "index.html"
    html = page.read_text(encoding="utf-8")
    assert f'<html lang="{language}">' in html
    said = SAID[language]
    images = cells(html, "images")
    nginx, flux = images[f"{MIRROR}/docker.io/library/nginx:1.27"], images[
        f"{MIRROR}/ghcr.io/fluxcd/flux-cli:v2.4.0"]
    # the platforms mirrored, never "all" for a copy that listed them
    assert nginx[2] == ", ".join(NGINX_PLATFORMS)
    assert flux[2] == "linux/amd64, linux/arm/v7, linux/arm64"
    assert images[f"{MIRROR}/registry.k8s.io/pause:3.10"][2] == "linux/arm64"
    assert "<span title=" in images[f"{MIRROR}/quay.io/prometheus/prometheus:v3.0.0"][2]
    # how long ago, with the machine-readable and the exact UTC time on the element
    synced = clock - timedelta(hours=3, minutes=20)
    assert nginx[4] == (f'<time datetime="{timestamps.to_text(synced)}" '
                        f'title="{synced:%Y-%m-%d %H:%M:%S} UTC">{said["nginx"]}</time>')
    assert f'>{said["flux"]}</time>' in flux[4]
    queue = cells(html, "queue")
    assert f'>{said["queued"]}</time>' in queue["#31"][3]
    assert f'>{said["failing"]}</time>' in queue["#29"][3]
    assert f'>{said["generated"]}</time>' in html
    assert not re.search(r">\d{4}-\d\d-\d\dT", html)  # no raw ISO time as text
    # the page's script counts from the reader's clock, a few seconds later: the same words
    dom = render_dom(page, "", tmp_path)
    for words in said.values():
        assert f">{words}</time>" in dom, words
    filtered = render_dom(page, "?q=redis", tmp_path)
    assert visible_rows(filtered) == [f"{MIRROR}/docker.io/bitnami/redis:7.4"]
    assert {"en": "1 of 5 shown", "zh-CN": "显示 1 / 5"}[language] in filtered
    shot = screenshot(page, f"status-page-{language}.png", tmp_path)
    assert_not_blank(shot)
