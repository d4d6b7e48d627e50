"""The blob-location cache and the engine's settings (no network)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.config import Section, default_cache_path, read_config
from bot.copy.cache import BlobLocations
from bot.errors import ConfigError
from bot.registry.blobs import DEFAULT_BLOB_COPY, BlobCopySettings

A, B, C = ("sha256:" + ch * 64 for ch in "abc")


def test_locations_survive_a_save_and_a_load(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "blob-locations.json"
    cache = BlobLocations.load(path)
    cache.record("m.example.io", "docker.io/library/redis", [A, B])
    cache.record("m.example.io", "docker.io/library/valkey", [A])
    cache.save()
    again = BlobLocations.load(path)
    assert again.repositories("m.example.io", A) == ["docker.io/library/valkey",
                                                     "docker.io/library/redis"]
    assert again.repositories("m.example.io", B) == ["docker.io/library/redis"]
    assert again.repositories("other.example.io", A) == []
    assert not list(path.parent.glob(".blob-locations-*"))  # no temporary file left


def test_nothing_is_written_before_a_record(tmp_path: Path) -> None:
    path = tmp_path / "blob-locations.json"
    BlobLocations.load(path).save()
    assert not path.exists()


def test_two_processes_saving_keep_both_records(tmp_path: Path) -> None:
    path = tmp_path / "blob-locations.json"
    first, second = BlobLocations.load(path), BlobLocations.load(path)
    first.record("m.example.io", "a", [A])
    second.record("m.example.io", "b", [B])
    first.save()
    second.save()
    merged = BlobLocations.load(path)
    assert merged.repositories("m.example.io", A) == ["a"]
    assert merged.repositories("m.example.io", B) == ["b"]


@pytest.mark.parametrize("content", [
    "not json", "[]", '{"registries": []}', '{"registries": {"m": []}}',
    '{"registries": {"m": {"sha256:zz": ["a"], "x": ["a"]}}}',
    json.dumps({"registries": {"m": {"sha256:" + "a" * 64: [1, None, "", "ok"]}}}),
    "[" * 100_000,  # nested past Python's recursion limit
])
def test_a_malformed_file_is_ignored_not_fatal(tmp_path: Path, content: str) -> None:
    path = tmp_path / "blob-locations.json"
    path.write_text(content)
    cache = BlobLocations.load(path)
    assert cache.repositories("m", "sha256:zz") == []
    assert cache.repositories("m", A) in ([], ["ok"])
    cache.record("m", "r", [B])
    cache.save()
    assert BlobLocations.load(path).repositories("m", B) == ["r"]


@pytest.mark.parametrize("repository", [
    "../../v2/x", "Docker.io/Library/X", "a//b", "/a", "a/", "x?mount=y", "a b", "a\nb",
    "é", "a" * 250, 7, None, ["a"], {"a": 1}])
def test_an_entry_that_is_no_repository_path_is_dropped(tmp_path: Path, repository: object) -> None:
    """Issue 27 item 5: such an entry once reached the mount request and failed every copy
    of its blob; it is dropped on reading and gone from the file at the next save."""
    path = tmp_path / "blob-locations.json"
    path.write_text(json.dumps({"registries": {
        "m.example.io:5000": {A: ["docker.io/library/ok", repository]},
        "no host!": {A: ["docker.io/library/ok"]}}}))
    cache = BlobLocations.load(path)
    assert cache.repositories("m.example.io:5000", A) == ["docker.io/library/ok"]
    assert cache.repositories("no host!", A) == []
    cache.record("m.example.io:5000", "docker.io/library/new", [B])
    cache.save()
    assert json.loads(path.read_text())["registries"] == {"m.example.io:5000": {
        A: ["docker.io/library/ok"], B: ["docker.io/library/new"]}}


def test_the_file_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "blob-locations.json"
    cache = BlobLocations(path, max_digests=2, max_repositories=2)
    cache.record("m", "r1", [A])
    cache.record("m", "r2", [A])
    cache.record("m", "r3", [A])  # only the two newest places of a digest are kept
    cache.record("m", "r1", [B, C])  # A is the least recently recorded digest: dropped
    cache.save()
    again = BlobLocations.load(path)
    assert again.repositories("m", A) == []
    assert again.repositories("m", B) == ["r1"] and again.repositories("m", C) == ["r1"]
    cache = BlobLocations(path, max_repositories=2)
    cache.record("m", "x", [A])
    cache.record("m", "y", [A])
    cache.record("m", "z", [A])
    assert cache.repositories("m", A) == ["z", "y"]


def test_default_path_follows_xdg_cache_home_then_home(tmp_path: Path) -> None:
    assert default_cache_path({"XDG_CACHE_HOME": str(tmp_path)}) == (
        tmp_path / "mirror-bot" / "blob-locations.json")
    assert default_cache_path({"HOME": str(tmp_path)}) == (
        tmp_path / ".cache" / "mirror-bot" / "blob-locations.json")
    assert default_cache_path({}) == Path(os.path.expanduser("~")) / ".cache" / "mirror-bot" / (
        "blob-locations.json")


def test_settings_parse_sizes_counts_and_the_cache_switch(tmp_path: Path) -> None:
    loaded = read_config({
        "MIRROR_COPY_PROCESSES": "2", "MIRROR_BLOB_THRESHOLD": "64MiB",
        "MIRROR_BLOB_CHUNK": "1048576", "MIRROR_BLOB_PARALLEL": "3",
        "XDG_CACHE_HOME": str(tmp_path)})
    loaded.require(Section.ENGINE)
    settings = loaded.engine
    blobs = settings.blob_copy(DEFAULT_BLOB_COPY)
    assert (settings.copy_processes, blobs.threshold, blobs.chunk_size,
            blobs.parallel) == (2, 64 << 20, 1 << 20, 3)
    assert settings.cache == tmp_path / "mirror-bot" / "blob-locations.json"
    assert read_config({"MIRROR_BLOB_CACHE": "off"}).engine.cache is None
    assert read_config({"MIRROR_BLOB_CACHE": "/x/y.json"}).engine.cache == Path("/x/y.json")
    defaults = read_config({}).engine
    assert defaults.copy_processes == 6
    assert defaults.blob_copy(DEFAULT_BLOB_COPY) == DEFAULT_BLOB_COPY == BlobCopySettings(
        threshold=32 << 20, chunk_size=8 << 20, parallel=8)


@pytest.mark.parametrize(("name", "value"), [
    ("MIRROR_COPY_PROCESSES", "0"), ("MIRROR_COPY_PROCESSES", "many"),
    ("MIRROR_BLOB_THRESHOLD", "big"), ("MIRROR_BLOB_CHUNK", "0"), ("MIRROR_BLOB_PARALLEL", "-1"),
])
def test_settings_that_do_not_parse_are_configuration_errors(name: str, value: str) -> None:
    loaded = read_config({name: value})
    with pytest.raises(ConfigError, match=name):
        loaded.require(Section.ENGINE)
    assert loaded.engine.copy_processes == 6  # the bad value keeps its default, reported
