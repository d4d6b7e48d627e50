"""Wiring for `sweep`, `resync` and `index`: read files, build the adapters, run the flow.

Rule: every file these commands read (resync reports, an index) is checked when read; a missing
or malformed one is a ConfigError naming the file (exit 2, nothing done).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.commands.adapters import build_forge, build_syncer, needs_github
from bot.commands.request import request_handler
from bot.config import Loaded
from bot.errors import ConfigError
from bot.flows.handle_event import write_summary
from bot.flows.index_page import build_index, write_outputs
from bot.flows.resync import merge_reports, resync
from bot.flows.sweep import Sweeper, SweepPolicy
from bot.forge.protocol import Forge
from bot.records.index import RECORD_UPDATES_PER_RUN, Index, parse_shard
from bot.redaction import Secrets

REPORT_KEYS = ("started_at", "finished_at", "results")


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the {what} {path}: {getattr(error, 'strerror', None) or error}") \
            from error
    except ValueError as error:
        raise ConfigError(f"the {what} {path} is not JSON ({error})") from error
    if not isinstance(data, dict):
        raise ConfigError(f"the {what} {path} is not a JSON object")
    return data


def output_file(path: Path | None, option: str) -> Path | None:
    """An output file's path, checked before any work is done: its folder exists (or can be
    made) and it is not a folder itself."""
    if path is None:
        return None
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; name a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"{option} {path}: cannot create its folder ({error.strerror})") \
            from error
    return path


def output_folder(path: Path | None, option: str) -> Path | None:
    if path is None:
        return None
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file; name a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"{option} {path}: cannot create it ({error.strerror})") from error
    return path


def read_report(path: Path) -> dict[str, Any]:
    report = read_json(path, "resync report")
    if any(key not in report for key in REPORT_KEYS) or not isinstance(report["results"], list) \
            or not all(isinstance(row, dict) and isinstance(row.get("status"), str)
                       and isinstance(row.get("target"), str) for row in report["results"]):
        raise ConfigError(f"the resync report {path} is not one mirror-bot resync --output wrote "
                          f"(it needs {', '.join(REPORT_KEYS)}, each result with a target and a "
                          "status)")
    return report


def read_index(path: Path) -> Index:
    data = read_json(path, "index")
    try:
        return Index.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ConfigError(f"the index {path} is not one mirror-bot index wrote ({error})") \
            from error


@dataclass(frozen=True)
class SweepOptions:
    max_issues: int
    time_budget: float  # seconds
    max_attempts: int
    local_forge: Path | None


def sweep(options: SweepOptions, loaded: Loaded) -> int:
    config = loaded.config(*needs_github(options.local_forge))
    forge = build_forge(config.github, config.bot_login, options.local_forge)
    policy = SweepPolicy(max_issues=options.max_issues, time_budget=options.time_budget,
                         max_attempts=options.max_attempts)
    decisions = Sweeper(request_handler(config, forge), forge, policy).run()
    for decision, outcome in decisions:
        print(f"sweep: issue #{decision.issue}: {decision.action} ({decision.reason})"
              + (f" -> {outcome.name}" if outcome else ""))
    summary = config.github.step_summary
    try:  # what a long comment points to: every image of each request the sweep concluded
        for decision, outcome in decisions:
            if summary is not None and outcome is not None and outcome.results:
                write_summary(summary, decision.issue, outcome, config.secret_set,
                              config.language)
    except OSError as error:  # the issues are handled already; only the job summary is lost
        print(f"mirror-bot: the job summary was not written to {summary}: "
              f"{error.strerror or error}", file=sys.stderr)
    print(f"sweep: {len(decisions)} open request(s) looked at", file=sys.stderr)
    return 1 if any(o and o.name == "failed" for _, o in decisions) else 0


@dataclass(frozen=True)
class IndexOptions:
    html: Path | None  # the status page's folder
    json_path: Path | None
    report: Sequence[Path]  # resync reports to fold in
    shard_plan: Path | None  # a file to append the resync matrix to (GitHub Actions' outputs)
    local_forge: Path | None


def index(options: IndexOptions, loaded: Loaded) -> int:
    json_path, html = output_file(options.json_path, "--json"), output_folder(options.html, "--html")
    shard_plan = output_file(options.shard_plan, "--shard-plan")
    reports = [read_report(path) for path in options.report]
    config = loaded.config(*needs_github(options.local_forge))
    forge = build_forge(config.github, config.bot_login, options.local_forge)
    built = build_index(forge, config, reports)
    write_outputs(built, json_path, html, config.github.repository_url, config.language,
                  secrets=config.secret_set)
    if not json_path and not html:
        print(config.secret_set.json(built.to_json()))
    print(f"index: {len(built.entries)} images, {len(built.queue)} queued", file=sys.stderr)
    if shard_plan:
        count = built.shard_count(config.allowlist.settings.quota_registries)
        # GitHub Actions' step outputs: the matrix takes `shards` with fromJSON, and each shard
        # runs `resync --shard I/count` over this same index.
        with shard_plan.open("a", encoding="utf-8") as outputs:
            outputs.write(f"count={count}\nshards={json.dumps(list(range(count)))}\n")
        print(f"index: resync in {count} shard(s)", file=sys.stderr)
    return 0


@dataclass(frozen=True)
class ResyncOptions:
    shard: str  # I/N
    jobs: int
    index: Path | None  # index.json to use instead of building it
    output: Path | None  # the report's file, else standard output
    merge: Sequence[Path] | None  # shard reports to merge instead of resyncing
    record_updates: int | None  # the whole run's record rewrites, shared among its shards
    local_forge: Path | None


def resync_command(options: ResyncOptions, loaded: Loaded) -> int:
    output = output_file(options.output, "--output")
    if options.merge:
        _emit(merge_reports(read_report(path) for path in options.merge), output, loaded.secret_set)
        return 0
    shard_index, shard_count = parse_shard(options.shard)
    index = read_index(options.index) if options.index else None
    # Without a forge (no token, no --local-forge) moved tags are copied but not recorded.
    with_forge = bool(options.local_forge or loaded.github.token)
    config = loaded.config(*needs_github(options.local_forge, with_forge))
    forge: Forge | None = None
    if with_forge:
        forge = build_forge(config.github, config.bot_login, options.local_forge)
    if index is None:
        if forge is None:
            raise ConfigError("resync needs --index FILE, GITHUB_TOKEN or --local-forge DIR")
        index = build_index(forge, config)
    quota_registries = config.allowlist.settings.quota_registries
    entries = index.shard(shard_index, shard_count, quota_registries)
    share = index.record_update_shares(shard_count, quota_registries,
                                       options.record_updates or RECORD_UPDATES_PER_RUN)[shard_index]
    report = resync(entries, build_syncer(config, options.jobs), config, jobs=options.jobs, forge=forge,
                    shard=options.shard, max_record_updates=share)
    _emit(report, output, config.secret_set)
    print(f"resync {options.shard}: {report['counts']}", file=sys.stderr)
    return 1 if report["counts"].get("failed") else 0


def _emit(report: dict[str, Any], output: Path | None, secrets: Secrets) -> None:
    """The resync report, to `output` (an artifact) or standard output, redacted."""
    text = secrets.json(report)
    if output:
        output.write_text(text)
    else:
        print(text)
