"""python -m ops COMMAND --stage STAGE [--region REGION] ...: operator commands against a
deployed stage (on AWS, or a local cloud when AWS_ENDPOINT_URL points at one)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Callable

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError

from .stage import Stage, aws_error

# Each command is a module of this package with HELP (one line), add_arguments(parser) and
# run(args, stage) -> exit status.
COMMANDS: tuple[str, ...] = ("verify", "redrive", "backfill", "erase-user")


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"{__package__}.{name.replace('-', '_')}")
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        sub.add_argument("--stage", default="dev", help="the stage to work on (default: dev)")
        sub.add_argument("--region", help="its region (default: the AWS CLI's default region)")
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return main_parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        try:
            run: Callable[[argparse.Namespace, Stage], int] = args.run  # the command module's run
            return run(args, Stage(args.stage, args.region))
        except (ClientError, BotoCoreError, Boto3Error) as error:  # e.g. a permission the caller lacks
            print(f"python -m ops {args.command}: {aws_error(error)}", file=sys.stderr)
            return 1
    return 130


if __name__ == "__main__":
    sys.exit(main())
