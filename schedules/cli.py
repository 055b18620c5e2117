"""`deskmate policy check FILE` and `deskmate holidays check FILE`: validate files before deploying them."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from schedules.calendar import HolidayError, load_holidays
from schedules.policy import PolicyError, load_policy


def cmd_policy_check(args: argparse.Namespace) -> int:
    """Print a one-line summary of a valid policy, or its one-line error (exit 2)."""
    try:
        policy = load_policy(args.file)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 2
    shifts = ", ".join(f"{s.code} {s.start:%H:%M}-{s.end:%H:%M}" for s in policy.shifts)
    print(
        f"{args.file}: ok ({policy.timezone}; shifts {shifts}; grace {policy.clock_in.grace_minutes} min "
        f"x{policy.clock_in.grace_uses_per_month}/month; {len(policy.peak_sales)} peak_sale period(s))"
    )
    return 0


def cmd_holidays_check(args: argparse.Namespace) -> int:
    """Print how many holidays and makeup workdays a holidays file has, or its error (exit 2)."""
    try:
        calendar = load_holidays(args.file)
    except HolidayError as exc:
        print(exc, file=sys.stderr)
        return 2
    counts = f"{len(calendar.holidays)} holidays, {len(calendar.makeup_workdays)} makeup workdays"
    print(f"{args.file}: ok ({counts})")
    return 0


def add_commands(sub: Any) -> None:
    """Register the subcommands with the main `deskmate` parser."""
    policy = sub.add_parser("policy", help="attendance and roster policy file").add_subparsers(
        dest="policy_command", required=True
    )
    check = policy.add_parser("check", help="validate a policy YAML file")
    check.add_argument("file")
    check.set_defaults(func=cmd_policy_check)
    holidays = sub.add_parser("holidays", help="public holidays file").add_subparsers(
        dest="holidays_command", required=True
    )
    check = holidays.add_parser("check", help="validate a holidays YAML file")
    check.add_argument("file")
    check.set_defaults(func=cmd_holidays_check)
