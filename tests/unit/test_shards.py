"""Resync's shards: a quota-limited registry's images in one shard, the rest spread by target; the
shard count from the index's size; one record-update budget per run, shared out exactly; and
settings.quota_registries read and checked like every other setting."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cli import build_parser, main
from bot.policy.allowlist_file import parse_allowlist
from bot.policy.settings import Settings
from bot.records.index import (
    IMAGES_PER_SHARD,
    MAX_SHARDS,
    RECORD_UPDATES_PER_RUN,
    Index,
    IndexEntry,
    shard_for,
)
from bot.records.record import RecordedImage
from tests.fixtures import REPO_ROOT

REGISTRIES = ("docker.io", "quay.io", "ghcr.io", "registry.k8s.io", "localhost:5000")


def entry(source: str, stale: str = "") -> IndexEntry:
    return IndexEntry(RecordedImage(source, f"m.example.io/{source}", "sha256:" + "0" * 64),
                      stale=stale)


def index_of(sources: list[str], generated_at: str = "2026-11-01T00:00:00Z") -> Index:
    index = Index(generated_at=generated_at)
    for source in sources:
        index.add(entry(source))
    return index


sources = st.lists(st.builds(lambda registry, n: f"{registry}/team/app-{n}:1.0",
                             st.sampled_from(REGISTRIES), st.integers(0, 10_000)),
                   max_size=120, unique=True)
quota_lists = st.lists(st.sampled_from(REGISTRIES), max_size=3, unique=True).map(tuple)


# --- which shard ----------------------------------------------------------------------------------

@given(sources, quota_lists, st.integers(1, 12))
def test_shards_partition_the_current_entries(names: list[str], quota: tuple[str, ...],
                                              count: int) -> None:
    index = index_of(names)
    index.add(entry("docker.io/team/old:1.0", stale="the naming changed"))
    shards = [[e.source for e in index.shard(i, count, quota)] for i in range(count)]
    assert sorted(s for shard in shards for s in shard) == sorted(names)


@given(sources, quota_lists, st.integers(1, 12))
def test_each_quota_registry_is_checked_in_one_shard(names: list[str], quota: tuple[str, ...],
                                                     count: int) -> None:
    index = index_of(names)
    for k, registry in enumerate(quota):
        holding = {i for i in range(count)
                   for e in index.shard(i, count, quota) if e.source.startswith(registry + "/")}
        assert holding <= {k % count}


@given(sources, quota_lists, st.integers(1, 12))
def test_other_images_stay_out_of_the_quota_shards_while_shards_are_left(
        names: list[str], quota: tuple[str, ...], count: int) -> None:
    for source in names:
        registry = source.split("/")[0]
        if registry not in quota and count > len(quota):
            assert shard_for(entry(source), count, quota) >= len(quota)


def test_docker_hubs_images_share_a_shard_whatever_their_names() -> None:
    names = ["docker.io/library/nginx:1.27", "docker.io/bitnami/redis:7", "docker.io/team/a/b:1"]
    assert {shard_for(entry(n), 16, ("docker.io",)) for n in names} == {0}
    assert {shard_for(entry(n), 16, ()) for n in names} != {0}  # without the setting they spread


# --- how many shards ------------------------------------------------------------------------------

@pytest.mark.parametrize(("docker_hub", "others", "quota", "expected"), [
    (0, 0, ("docker.io",), 1),
    (5_000, 0, ("docker.io",), 1),
    (5_000, 1, ("docker.io",), 2),
    (0, IMAGES_PER_SHARD, ("docker.io",), 2),
    (10, IMAGES_PER_SHARD + 1, ("docker.io",), 3),
    (10, IMAGES_PER_SHARD + 1, (), 2),
    (0, IMAGES_PER_SHARD * 300, ("docker.io",), MAX_SHARDS),
])
def test_the_shard_count_follows_the_index(docker_hub: int, others: int, quota: tuple[str, ...],
                                           expected: int) -> None:
    index = index_of([f"docker.io/library/app-{n}:1" for n in range(docker_hub)]
                     + [f"ghcr.io/acme/app-{n}:1" for n in range(others)])
    for n in range(50):  # stale entries are never resynced, so they need no shard
        index.add(entry(f"quay.io/acme/stale-{n}:1", stale="denied now"))
    assert index.shard_count(quota) == expected


# --- one record-update budget per run -------------------------------------------------------------

@given(sources, quota_lists, st.integers(1, MAX_SHARDS), st.integers(1, 500), st.text(max_size=25))
def test_the_shares_add_up_to_the_budget(names: list[str], quota: tuple[str, ...], count: int,
                                         budget: int, generated_at: str) -> None:
    index = index_of(names, generated_at)
    shares = index.record_update_shares(count, quota, budget)
    assert sum(shares) == (budget if names else 0)
    assert all(share == 0 for i, share in enumerate(shares) if not index.shard(i, count, quota))


def test_shares_follow_the_shards_sizes() -> None:
    """Docker Hub's shard holds most images, and so gets most of the budget."""
    index = index_of([f"docker.io/library/app-{n}:1" for n in range(600)]
                     + [f"ghcr.io/acme/app-{n}:1" for n in range(400)])
    count = index.shard_count(("docker.io",))
    assert count == 3
    shares = index.record_update_shares(count, ("docker.io",))
    sizes = [len(index.shard(i, count, ("docker.io",))) for i in range(count)]
    assert sum(shares) == RECORD_UPDATES_PER_RUN and shares[0] == 60  # 600 of 1,000 images
    assert all(abs(share - RECORD_UPDATES_PER_RUN * size / 1000) <= 1
               for share, size in zip(shares, sizes, strict=True))


def test_with_more_shards_than_the_budget_no_shard_is_left_out_run_after_run() -> None:
    """5 rewrites a run over 20 shards of about 50 images: a shard gets one in about a quarter
    of the runs, but never the same shards every run."""
    index = index_of([f"ghcr.io/acme/app-{n}:1" for n in range(1_000)])
    served = [0] * 20
    for day, hour in itertools.product(range(1, 11), (0, 6, 12, 18)):  # 40 runs, 6 hours apart
        index.generated_at = f"2026-11-{day:02}T{hour:02}:17:00Z"
        shares = index.record_update_shares(20, budget=5)
        assert sum(shares) == 5 and max(shares) <= 1
        served = [s + share for s, share in zip(served, shares, strict=True)]
    assert min(served) >= 3 and max(served) <= 20  # 200 units over 20 shards: about 10 each


def test_the_resync_help_states_the_budget_the_code_uses() -> None:
    parser = build_parser()
    resync = parser._subparsers._group_actions[0].choices["resync"]  # type: ignore[union-attr]
    [option] = [a for a in resync._actions if "--record-updates" in a.option_strings]
    assert f"(default {RECORD_UPDATES_PER_RUN})" in option.help


# --- settings.quota_registries ---------------------------------------------------------------------

def settings_of(body: str) -> tuple[Settings, list[str]]:
    allowlist, problems = parse_allowlist("allow:\n  - ghcr.io/a\nsettings:\n" + body)
    return allowlist.settings, [f"{p.line}: {p.message}" for p in problems]


@pytest.mark.parametrize(("body", "expected"), [
    ("  max_images_per_issue: 10\n", ("docker.io",)),  # the default: Docker Hub
    ("  quota_registries: [docker.io, quay.io]\n", ("docker.io", "quay.io")),
    ("  quota_registries:\n    - localhost:5000\n", ("localhost:5000",)),
    ("  quota_registries: []\n", ()),  # none: a paid account, or no quota to share
])
def test_quota_registries_are_read(body: str, expected: tuple[str, ...]) -> None:
    settings, problems = settings_of(body)
    assert problems == []
    assert settings.quota_registries == expected


@pytest.mark.parametrize(("body", "line", "message"), [
    ("  quota_registries: docker.io\n", 4, "settings.quota_registries: must be a list like [docker.io]"),
    ("  quota_registries: [docker.io, docker.io]\n", 4, "'docker.io' is listed twice"),
    ("  quota_registries:\n    - docker.io\n    - index.docker.io\n", 6,
     "write Docker Hub as docker.io, not 'index.docker.io'"),
    ("  quota_registries: [Quay.io]\n", 4, "write 'quay.io' in lower case"),
    ("  quota_registries: [library]\n", 4, "'library' is not a registry host; write host[:port]"),
    ("  quota_registries: ['https://quay.io']\n", 4, "is not a registry host"),
    ("  quota_registries: [quay.io/acme]\n", 4, "is not a registry host"),
    ("  quota_registries: [5000]\n", 4, "is not a registry host"),
])
def test_bad_quota_registries_are_problems_on_their_line(body: str, line: int, message: str) -> None:
    _, problems = settings_of(body)
    assert any(p.startswith(f"{line}: ") and message in p for p in problems), problems
    assert len(problems) == 1



# --- the commands' options -------------------------------------------------------------------------

def test_a_record_update_budget_below_one_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["resync", "--record-updates", "0"], env={})
    assert caught.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "--record-updates" in line


def test_a_shard_plan_that_names_a_folder_is_refused_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "forge").mkdir()
    code = main(["index", "--local-forge", str(tmp_path / "forge"), "--shard-plan", str(tmp_path)],
                env={"MIRROR_REGISTRY": "m.example.io",
                     "MIRROR_ALLOWLIST": str(REPO_ROOT / "allowlist.yaml")})
    assert code == 2
    assert capsys.readouterr().err == f"mirror-bot index: --shard-plan {tmp_path} is a folder; name a file\n"


def test_the_shard_plan_is_appended_as_github_step_outputs(tmp_path: Path) -> None:
    (tmp_path / "forge").mkdir()
    plan = tmp_path / "github_output"
    plan.write_text("earlier=step\n")  # other steps' outputs stay
    code = main(["index", "--local-forge", str(tmp_path / "forge"), "--json", str(tmp_path / "i.json"),
                 "--shard-plan", str(plan)],
                env={"MIRROR_REGISTRY": "m.example.io",
                     "MIRROR_ALLOWLIST": str(REPO_ROOT / "allowlist.yaml")})
    assert code == 0
    assert plan.read_text() == "earlier=step\ncount=1\nshards=[0]\n"
