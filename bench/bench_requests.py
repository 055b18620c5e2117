"""Request engine benchmark: a storm of concurrent approvals on one request, and create-and-approve
cycles on SQLite. Prints its figures; run with `.venv/bin/python -m bench.bench_requests`."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bot import requests as engine
from bot.app import App
from bot.clock import FakeClock
from bot.messages import Incoming
from bot.schema import audit_log, buttons
from bot.settings import Settings
from handlers import requests as decisions

REPO = Path(__file__).resolve().parents[1]


async def new_leave(app: App) -> tuple[int, str]:
    """A one-day leave request waiting for 张磊, with its card; returns (id, approve token)."""
    async with app.db.transaction() as conn:
        request = await engine.create(
            conn,
            kind="leave",
            state=engine.PENDING,
            requester_id="wangfang",
            now=app.clock.now(),
            payload={
                "type": "personal",
                "start": "2026-12-10",
                "end": "2026-12-10",
                "days": 1,
                "reason": "bench",
                "requester_name": "王芳",
            },
            team="service",
            decider_level="lead",
            decider_id="zhanglei",
        )
        lead = await app.directory.by_id(conn, "zhanglei")
        assert lead is not None
        card = await decisions.send_card(conn, app, request, lead)
        token = (
            await conn.execute(
                sa.select(buttons.c.token).where(
                    buttons.c.message_id == card.id, buttons.c.action == "request.approve"
                )
            )
        ).scalar_one()
    return request.id, str(token)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
            org_file=REPO / "examples/org.yaml",
            policy_file=REPO / "examples/policy.yaml",
            kb_semantic=False,
            _env_file=None,  # type: ignore[call-arg]
        )
        clock = FakeClock()
        app = App(settings, clock=clock)
        await app.prepare()
        lead = await app.person("zhanglei")
        supervisor = await app.person("liujun")
        manager = await app.person("wangjianguo")
        assert lead and supervisor and manager

        # 1. 200 concurrent presses of "approve" by three people allowed to decide.
        request_id, token = await new_leave(app)
        pressers = [lead, supervisor, manager]
        started = time.perf_counter()
        await asyncio.gather(
            *(
                app.handle(Incoming("console", p.id, p.id, p, clock.now(), button_token=token))
                for p in (pressers[i % 3] for i in range(200))
            )
        )
        storm = time.perf_counter() - started
        async with app.db.read() as conn:
            decisions_made = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(audit_log)
                    .where(audit_log.c.object_id == str(request_id), audit_log.c.action == "leave.approved")
                )
            ).scalar_one()
            state = (await engine.get(conn, request_id)).state  # type: ignore[union-attr]
        print(
            f"200 concurrent approve presses: {decisions_made} decision, {decisions_made} audit row, "
            f"state {state}, {storm * 1000:.0f} ms in all"
        )

        # 2. Create-and-approve cycles.
        cycles = 300
        latencies = []
        started = time.perf_counter()
        for _ in range(cycles):
            _, token = await new_leave(app)
            t0 = time.perf_counter()
            await app.handle(Incoming("console", lead.id, lead.id, lead, clock.now(), button_token=token))
            latencies.append(time.perf_counter() - t0)
        total = time.perf_counter() - started
        latencies.sort()
        p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
        print(
            f"create-and-approve on SQLite: {cycles / total:.0f} cycles/s; decision p50 "
            f"{statistics.median(latencies) * 1000:.1f} ms, p95 {p95:.1f} ms (target ≤ 20 ms)"
        )
        await app.close()


if __name__ == "__main__":
    asyncio.run(main())
