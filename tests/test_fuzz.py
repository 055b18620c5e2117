"""Hostile and random input: the router and every parser answer or refuse, never crash."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import org
from bot.app import App
from bot.clock import FakeClock
from bot.settings import Settings
from handlers.common import parse_day
from schedules.policy import default_policy
from schedules.roster.importing import parse_roster
from schedules.roster.model import RosterError
from tests.conftest import REPO, local
from tests.helpers import Chat

NASTY = st.sampled_from(
    [
        "'; DROP TABLE people; --",
        "<!channel>",
        "<b>bold</b>",
        "*bold* _it_ `code`",
        "\u202eevil",
        "\x00\x07\x1b[31m",
        "😀" * 50,
        "/swap 12-03 ' OR 1=1 --",
        "/leave 事假 99-99 12-01 x",
        "/missed 12-01 in 25:99 x",
        "/lang 🇨🇳",
        "press 1",
        "/escalate 紧急",
        "@everyone",
        "[link](http://x)",
        "a" * 5000,
        "/rule " + "问" * 4096,
    ]
)
TEXT = st.one_of(
    NASTY, st.text(max_size=300), st.from_regex(r"/[a-z]{1,10}( [\w\-:]{0,12}){0,4}", fullmatch=True)
)


@pytest.mark.slow  # hundreds of generated inputs
def test_router_never_crashes_on_any_text(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    clock = FakeClock(local("2026-12-01 10:00"))
    app = App(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'f.db'}",
            org_file=REPO / "examples/org.yaml",
            kb_semantic=False,
            kb_cache_dir=tmp_path / "cache",
            _env_file=None,
        ),  # type: ignore[call-arg]
        clock=clock,
    )
    loop.run_until_complete(app.prepare())
    chat = Chat(app, clock)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(person=st.sampled_from(["wangfang", "zhanglei", "liujun", "ghost"]), text=TEXT)
    def check(person: str, text: str) -> None:
        before = len(chat.sent)
        loop.run_until_complete(chat.console.say(person, text) if not text.startswith("press") else _noop())
        for message in chat.sent[before:]:
            assert "错误码" not in message["text"] and "error code" not in message["text"], (text, message)

    try:
        check()
    finally:
        loop.run_until_complete(app.close())
        loop.close()


async def _noop() -> None:
    return None


@pytest.mark.slow  # hundreds of generated inputs
@given(st.text(max_size=30))
def test_parse_day_never_raises(text: str) -> None:
    result = parse_day(text, date(2026, 12, 1))
    assert result is None or isinstance(result, date)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(
                [
                    "person",
                    "date",
                    "shift",
                    "2026-12-01",
                    "12月2日",
                    "白班",
                    "休",
                    "晚",
                    "wangfang",
                    "x",
                    "",
                    "12-03",
                    "夜",
                ]
            )
            | st.text(max_size=8),
            max_size=6,
        ),
        max_size=6,
    )
)
@pytest.mark.slow  # hundreds of generated inputs
def test_roster_parser_accepts_or_names_the_problem(rows: list[list[str]]) -> None:
    data = "\n".join(
        ",".join(cell.replace(",", " ").replace("\n", " ") for cell in row) for row in rows
    ).encode()
    try:
        entries = parse_roster(
            data, "r.csv", {"wangfang", "liuyang"}, default_policy(), reference=date(2026, 12, 1)
        )
    except RosterError as exc:
        assert exc.problems and all(p.code for p in exc.problems)
    else:
        assert all(e.person_id in {"wangfang", "liuyang"} for e in entries)


@pytest.mark.slow  # hundreds of generated inputs
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "teams",
                        "people",
                        "id",
                        "name",
                        "role",
                        "team",
                        "lead",
                        "telegram",
                        "slack",
                        "language",
                        "joined_on",
                        "supervisor",
                    ]
                ),
                children,
                max_size=6,
            )
        ),
        max_leaves=20,
    )
)
def test_org_parser_accepts_or_lists_problems(data: object) -> None:
    try:
        org.parse_org(data)
    except org.OrgError as exc:
        assert exc.problems


HANDBOOK_LINE = st.one_of(
    st.sampled_from(
        [
            "# 手册",
            "## 第一章 总则",
            "## Chapter 1 General",
            "**第一条** 内容。",
            "**第二条** 内容。",
            "**第三条**",
            "第四条 纯文本",
            "**Article 1** text",
            "**Article 2** more",
            "",
            "普通段落",
        ]
    ),
    st.text(max_size=40),
)


@pytest.mark.slow  # hundreds of generated inputs
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(HANDBOOK_LINE, max_size=12), suffix=st.sampled_from([".md", ".txt"]))
def test_handbook_loader_accepts_or_names_file_and_line(
    tmp_path: Path, lines: list[str], suffix: str
) -> None:
    from knowledge.loader import load_file
    from knowledge.model import HandbookError

    path = tmp_path / f"handbook{suffix}"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        articles = load_file(path)
    except HandbookError as exc:
        assert str(path) in str(exc)
    else:
        assert articles and all(a.ref and a.text is not None for a in articles)
