"""The live workers (`bot.runtime.background`) and the cycle collector."""

from __future__ import annotations

import gc

from bot.app import App
from bot.clock import FakeClock
from bot.runtime import background
from tests.helpers import Chat


async def test_start_up_objects_are_frozen_while_the_workers_run_then_unfrozen(
    app: App, clock: FakeClock
) -> None:
    """What start-up made is out of the cycle collector's sight while the workers run (a full collection of
    it paused a 300-reminder tick for 0.27 s), and back in it afterwards, so nothing outlives its use."""
    Chat(app, clock)  # the console transport: the outbox worker has something to send through
    assert gc.get_freeze_count() == 0
    async with background(app, tick_seconds=3600):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
