"""Plan one day of shift reminders for 5,000 agents and print the time taken and peak RSS.

Run: .venv/bin/python -m bench.attendance_plan [--agents 5000] [--repeat 5]
Target: one day for 5,000 agents in at most 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time

from schedules.policy import default_policy
from schedules.reminders import due_reminders
from schedules.roster.model import RosterEntry
from schedules.timeutil import local_instant


def main() -> None:
    """Build a synthetic roster (yesterday, today, tomorrow) and time due_reminders over today."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    policy = default_policy()
    tz = policy.tz
    today = dt.date(2026, 12, 1)
    codes = [None, "day", "evening", "day", "evening", "day", "evening"]
    entries = [
        RosterEntry(f"agent{i:05d}", today + dt.timedelta(days=d), codes[(i + d) % 7])
        for i in range(args.agents)
        for d in (-1, 0, 1)
    ]
    lead_of = {f"agent{i:05d}": f"lead{i // 10:04d}" for i in range(args.agents)}
    # half the agents clocked in today, a fifth of them also clocked out
    punches = [(f"agent{i:05d}", today, "clock_in") for i in range(0, args.agents, 2)]
    punches += [(f"agent{i:05d}", today, "clock_out") for i in range(0, args.agents, 10)]
    t0 = local_instant(today, dt.time(0), tz)
    t1 = local_instant(today + dt.timedelta(days=1), dt.time(0), tz)
    best = float("inf")
    count = 0
    for _ in range(args.repeat):
        started = time.perf_counter()
        count = len(due_reminders(t0, t1, entries, punches, policy, tz, lead_of))
        best = min(best, time.perf_counter() - started)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"agents={args.agents} entries={len(entries)} reminders={count} "
        f"plan_one_day_s={best:.3f} (best of {args.repeat}) peak_rss_mb={rss_mb:.1f}"
    )


if __name__ == "__main__":
    main()
