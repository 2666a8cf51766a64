"""The `gentlenet` command: the parser and the one place a failure becomes a message and
an exit status. The commands live in model_commands.py (the trainer's side) and
board_commands.py (the board's side); common.py holds what they share."""
from __future__ import annotations

import argparse
import sys

from gentlenet import board_commands, model_commands
from gentlenet.common import CommandError


class _Sub:
    """add_subparsers, with abbreviated flags refused (`--epoch` is not `--epochs`) and
    each subcommand remembered, so that a mistyped flag shows that command's usage."""

    def __init__(self, sub):
        self.sub = sub

    def __getattr__(self, name):
        return getattr(self.sub, name)

    def add_parser(self, name, **kw):
        p = self.sub.add_parser(name, allow_abbrev=False, **kw)
        p.set_defaults(_parser=p)
        return p


def parser():
    ap = argparse.ArgumentParser(
        prog="gentlenet", allow_abbrev=False,
        description="Train a small digit-reading network and take it down to a microcontroller.")
    ap.add_argument("--version", action="version", version="gentlenet " + __import__("trainer").__version__)
    sub = _Sub(ap.add_subparsers(dest="command", metavar="COMMAND"))
    sub.required = True
    model_commands.add_parsers(sub)
    board_commands.add_parsers(sub)
    return ap


def _failures():
    """The exceptions that are the user's to put right, each library's own type: printed
    as "error: <message>" (exit 2, or 1 for a check that ran and failed)."""
    from firmware_tools.boardclient import BoardError
    from firmware_tools.cameras import CameraError
    from firmware_tools.flash import FlashError
    from trainer.data import DataError
    from trainer.download import DownloadError
    from trainer.report import ReportError

    # ValueError covers the format's and the checkpoint's (qformat.FormatError, mlp.CheckpointError)
    return (CommandError, DataError, DownloadError, ReportError, FlashError, BoardError, CameraError, ValueError)


def main(argv=None):
    args, extra = parser().parse_known_args(argv)
    if extra:
        args._parser.error("unrecognized arguments: %s" % " ".join(extra))
    try:
        args.func(args)
    except _failures() as e:
        print("error: %s" % e, file=sys.stderr)
        return getattr(e, "status", 2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
