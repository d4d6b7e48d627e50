"""CLI glue for `sweep`, `resync` and `index`: build the adapters, run the flow, report."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bot.adapters import build_forge, build_syncer
from bot.config import load_config
from bot.errors import ConfigError
from bot.flows.handle_event import build_handler
from bot.flows.index_page import build_index, write_outputs
from bot.flows.resync import merge_reports, resync
from bot.flows.sweep import Sweeper, SweepPolicy
from bot.forge import Forge
from bot.index import Index, parse_shard


def run_queue_command(args: argparse.Namespace) -> int:
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "index":
        return _index(args)
    return _resync(args)


def _sweep(args: argparse.Namespace) -> int:
    config = load_config()
    forge = build_forge(os.environ, args.local_forge)
    handler = build_handler(config, forge, os.environ)
    policy = SweepPolicy(max_issues=args.max_issues, time_budget=args.time_budget,
                         max_attempts=args.max_attempts)
    decisions = Sweeper(handler, forge, policy).run()
    print(json.dumps([{"issue": d.issue, "action": d.action, "reason": d.reason,
                       "outcome": o.name if o else None} for d, o in decisions], indent=2))
    return 1 if any(o and o.name == "failed" for _, o in decisions) else 0


def _index(args: argparse.Namespace) -> int:
    config = load_config()
    forge = build_forge(os.environ, args.local_forge)
    reports = [json.loads(path.read_text()) for path in args.report]
    built = build_index(forge, config.labels, reports)
    repository = os.environ.get("GITHUB_REPOSITORY")
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    write_outputs(built, args.json_path, args.html, f"{server}/{repository}" if repository else "")
    if not args.json_path and not args.html:
        print(json.dumps(built.to_json(), indent=2))
    print(f"index: {len(built.entries)} images, {len(built.queue)} queued", file=sys.stderr)
    return 0


def _resync(args: argparse.Namespace) -> int:
    if args.merge:
        _emit(merge_reports(json.loads(path.read_text()) for path in args.merge), args.output)
        return 0
    config = load_config()
    shard_index, shard_count = parse_shard(args.shard)
    # Without a forge (no token, no --local-forge) moved tags are copied but not recorded.
    forge: Forge | None = None
    if args.local_forge or os.environ.get("GITHUB_TOKEN"):
        forge = build_forge(os.environ, args.local_forge)
    if args.index:
        index = Index.from_json(json.loads(args.index.read_text()))
    elif forge is not None:
        index = build_index(forge, config.labels)
    else:
        raise ConfigError("resync needs --index FILE, GITHUB_TOKEN or --local-forge DIR")
    entries = index.shard(shard_index, shard_count)
    report = resync(entries, build_syncer(config), max(1, args.jobs), forge, args.shard)
    _emit(report, args.output)
    print(f"resync {args.shard}: {report['counts']}", file=sys.stderr)
    return 1 if report["counts"].get("failed") else 0


def _emit(report: dict[str, Any], output: Path | None) -> None:
    text = json.dumps(report, indent=2)
    if output:
        output.write_text(text)
    else:
        print(text)
