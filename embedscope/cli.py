"""The `embedscope` command: parses, dispatches to the packages, turns errors into exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from embedscope import __version__


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="embedscope",
        description="Embed an image dataset with DINOv2 into Qdrant, then search, classify, "
        "map and cluster it. Every flag also reads an EMBEDSCOPE_* environment variable.",
    )
    parser.add_argument("--version", action="version", version=f"embedscope {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    from embedscope.commands import add_commands

    add_commands(parser.add_subparsers(dest="command", metavar="COMMAND"))
    return parser


def _settings_error(exc: ValueError) -> str | None:
    """A one-line message for an invalid setting (flag or EMBEDSCOPE_* variable), else None."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    if isinstance(exc, SettingsError):
        return f"{exc} (lists in EMBEDSCOPE_* variables are JSON, e.g. '[\"train\"]')"
    if not isinstance(exc, ValidationError):
        return None
    from embedscope.flags import env_name, flag_name
    from embedscope.settings_doc import settings_classes

    cls = next((c for _, c in settings_classes() if c.__name__ == exc.title), None)
    parts = []
    for err in exc.errors():
        field = ".".join(str(x) for x in err.get("loc", ())) or "value"
        info = cls.model_fields.get(field) if cls is not None else None
        flag = flag_name(field, info) if info is not None else "--" + field.replace("_", "-")
        env = env_name(cls, field) if cls is not None else "EMBEDSCOPE_" + field.upper()
        parts.append(f"{flag} ({env}): {err.get('msg')}, got {err.get('input')!r}")
    return "invalid setting: " + "; ".join(parts)


def run(handler_args: argparse.Namespace) -> int:
    """Call the chosen handler; EmbedscopeError becomes its message and exit code."""
    from embedscope.errors import EmbedscopeError
    from embedscope.store.locks import set_command

    set_command(str(getattr(handler_args, "command", None) or "embedscope"))
    try:
        return int(handler_args.handler(handler_args) or 0)
    except EmbedscopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ValueError as exc:  # pydantic's ValidationError and SettingsError are ValueErrors
        message = _settings_error(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `embedscope` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
