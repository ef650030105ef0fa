"""``cti-server prompts generate|list``: make the prompt WAVs before the first call needs them.

Hooked into the main parser with :func:`add_prompts_parser`; :func:`prompts_command` returns the
exit status. Texts errors raise :class:`~cti_server.config.ConfigError` like the config loader,
so the caller prints them as ``file:line: reason``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cti_server.config import load_config
from cti_server.media.prompt_files import (
    PromptFileError,
    clip_states,
    ensure_prompts,
    prompts_dir,
)
from cti_server.media.prompts import load_catalog

EPILOG = """examples:
  cti-server prompts generate                      make missing clips in ./data/prompts
  cti-server prompts generate --lang ko --force    remake every generated Korean clip
  cti-server prompts list --data-dir /var/lib/cti  show each clip: generated, operator or missing

A recording dropped into <data-dir>/prompts/<lang>/<clip>.wav replaces a generated clip and is
never overwritten (not even by --force); one that is not 8 kHz mono 16-bit PCM is converted with
sox and its original kept in <data-dir>/prompts/originals/.
"""


def add_prompts_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``prompts`` (with ``generate`` and ``list``) to the ``cti-server`` sub-parsers."""
    prompts: argparse.ArgumentParser = subparsers.add_parser(
        "prompts",
        help="generate or list the IVR prompt WAV files",
        description="Generate the demo IVR prompts (espeak-ng + sox, 8 kHz mono) and the "
        "music on hold into the data directory, or list what is there.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = prompts.add_subparsers(dest="prompts_action", metavar="ACTION", required=True)
    generate = actions.add_parser(
        "generate",
        help="make missing or outdated clips",
        description="Make every clip that is missing or whose text changed; keeps operator "
        "recordings. Safe to run while the server runs.",
    )
    generate.add_argument(
        "--force", action="store_true", help="remake every generated clip (not recordings)"
    )
    generate.add_argument("--lang", choices=["ko", "en", "all"], default="all", help="default: all")
    generate.add_argument(
        "--jobs", type=int, default=None, help="parallel espeak-ng/sox runs (default: CPUs, max 8)"
    )
    listing = actions.add_parser("list", help="show every clip, its state and its text")
    for p in (generate, listing):
        p.add_argument("--data-dir", type=Path, help="default: data_dir of --config, or ./data")
        p.add_argument("--config", type=Path, help="server config file (for data_dir)")
        p.add_argument(
            "--texts", type=Path, help="prompt texts YAML (default: the packaged texts.yaml)"
        )
    prompts.set_defaults(handler=prompts_command)
    return prompts


def _data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        return Path(args.data_dir)
    if args.config is not None:
        return Path(load_config(args.config).data_dir)
    return Path("./data")


def prompts_command(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.texts)
    data_dir = _data_dir(args)
    if args.prompts_action == "list":
        for rel, state, text in clip_states(catalog, data_dir):
            sys.stdout.write(f"{state:9} {rel:32} {text}\n")
        return 0
    langs = None if args.lang == "all" else [args.lang]
    try:
        report = ensure_prompts(catalog, data_dir, langs=langs, force=args.force, jobs=args.jobs)
    except PromptFileError as exc:
        sys.stderr.write(f"prompts: {exc}\n")
        return 1
    for rel, reason in report.failed:
        sys.stderr.write(f"{prompts_dir(data_dir) / rel}: {reason}\n")
    sys.stdout.write(
        f"prompts: {len(report.generated)} generated, {len(report.up_to_date)} up to date, "
        f"{len(report.operator) + len(report.converted)} operator recordings, "
        f"{len(report.failed)} failed in {report.seconds:.1f} s ({prompts_dir(data_dir)})\n"
    )
    return 1 if report.failed else 0
