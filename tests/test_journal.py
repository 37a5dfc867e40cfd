"""The hash-chained journal: chain, JSON Lines round trip, RFC 3161 tokens from the demo
TSA, and every way of breaking it named at its place."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from pathlib import Path

import pytest

from signers import speedups
from signers.demo_pki import DemoPki
from signers.journal import (
    GENESIS,
    JournalError,
    JournalEvent,
    next_event,
    parse_jsonl,
    read_journal,
    read_tokens,
    timestamp_event,
    verify_journal,
    write_journal,
)
from signers.services import RunningServices

T0 = dt.datetime(2023, 2, 6, 16, 0, tzinfo=dt.UTC)


def _chain(n: int = 5) -> list[JournalEvent]:
    events: list[JournalEvent] = []
    for i in range(n):
        events.append(next_event(events[-1] if events else None, journal="c1",
                                 kind="signature-accepted" if i else "started",
                                 data={"i": i, "nom": "Élodie"},
                                 at=T0 + dt.timedelta(minutes=i)))
    return events


def test_chain_links_each_event_to_the_one_before() -> None:
    events = _chain()
    assert events[0].prev == GENESIS and events[0].seq == 1
    assert all(b.prev == a.hash and b.seq == a.seq + 1 for a, b in zip(events, events[1:],
                                                                      strict=False))
    check = verify_journal(events)
    assert check.valid and check.first_broken is None and check.head == events[-1].hash
    assert check.untimestamped_tail == 5


def test_canonical_json_is_stable_and_utf8() -> None:
    event = _chain(1)[0]
    assert event.canonical().startswith(b'{"at":"2023-02-06T16:00:00+00:00","data":')
    assert "Élodie".encode() in event.canonical()
    assert parse_jsonl(event.canonical() + b"\n") == [event]


def test_jsonl_round_trip_with_tokens(tmp_path: Path) -> None:
    events = _chain()
    write_journal(events, tmp_path / "journal.jsonl", {2: b"x"})
    assert read_journal(tmp_path / "journal.jsonl") == events
    assert read_tokens(tmp_path / "journal") == {2: b"x"}


@pytest.mark.parametrize("change", ["edit", "remove", "insert", "swap", "other-journal"])
def test_a_broken_chain_names_the_first_broken_event(change: str) -> None:
    events = _chain()
    if change == "edit":
        events[2] = dataclasses.replace(events[2], data={"i": 99})
        broken = 4  # event 3's own hash changed: event 4 no longer follows it
    elif change == "remove":
        del events[2]
        broken = 3
    elif change == "insert":
        events.insert(1, dataclasses.replace(events[1]))  # a copy of event 2 replayed
        broken = 3
    elif change == "swap":
        events[1], events[2] = events[2], events[1]
        broken = 2
    else:
        events[3] = dataclasses.replace(events[3], journal="c2")
        broken = 4
    check = verify_journal(events)
    assert not check.valid
    assert check.first_broken == broken, check.problems
    assert check.problems[0].startswith(f"event {broken} ")


@pytest.mark.parametrize("line, message", [
    ("not json", "journal.jsonl:2: not a JSON object"),
    ('{"seq": 2}', "journal.jsonl:2: a journal event has exactly the keys"),
    ('{"seq": "2", "at": "x", "journal": "c1", "kind": "k", "data": {}, "prev": "0"}',
     "journal.jsonl:2: seq must be a int"),
    ('{"seq": 2, "at": "yesterday", "journal": "c1", "kind": "k", "data": {}, "prev": "0"}',
     "journal.jsonl:2: at is not an ISO 8601 time"),
])
def test_a_line_that_is_not_an_event_is_named(line: str, message: str) -> None:
    text = _chain(1)[0].canonical().decode() + "\n" + line + "\n"
    with pytest.raises(JournalError, match=message):
        parse_jsonl(text)


@pytest.mark.parametrize("fast", [True, False], ids=["speedups", "plain"])
def test_tokens_from_the_demo_tsa_verify_offline(demo_pki: DemoPki,
                                                  demo_services: RunningServices,
                                                  fast: bool) -> None:
    """Both paths (the speed-ups', and pyHanko's plain one) give the same verdicts."""
    before = speedups.status().enabled
    if fast and not speedups.enable().enabled:
        pytest.skip("the speed-ups cannot be enabled here (SIGNERS_SPEEDUPS=off?)")
    try:
        _tokens_verify_offline(demo_pki, demo_services, fast)
    finally:
        if fast and not before:
            speedups.disable()


def _tokens_verify_offline(demo_pki: DemoPki, demo_services: RunningServices,
                           fast: bool) -> None:
    events = _chain()
    tokens = {3: timestamp_event(events[2], demo_services.tsa_url),
              5: timestamp_event(events[4], demo_services.tsa_url)}
    verify = functools.partial(verify_journal, speedups=fast)
    check = verify(events, tokens, trust_roots=[demo_pki.root_cert])
    assert check.valid, check.problems
    assert [t.seq for t in check.tokens] == [3, 5] and all(t.valid for t in check.tokens)
    assert check.tokens[0].tsa and check.tokens[0].time
    assert check.untimestamped_tail == 0

    # a token moved to another event, a changed event under a token, a foreign root
    moved = verify(events, {4: tokens[3]}, trust_roots=[demo_pki.root_cert])
    assert not moved.valid and "message imprint" in moved.problems[0]
    edited = list(events)
    edited[2] = dataclasses.replace(edited[2], kind="declined")
    broken = verify(edited, tokens, trust_roots=[demo_pki.root_cert])
    assert not broken.valid and broken.first_broken == 4
    assert any("000003.tsr" in p and "imprint" in p for p in broken.problems)
    stranger = verify(events, tokens, trust_roots=[demo_pki.cert("maire-gignac")])
    assert not stranger.valid and "does not chain to a trust anchor" in stranger.problems[0]
    garbage = verify(events, {3: b"\x30\x03\x02\x01\x00"},
                             trust_roots=[demo_pki.root_cert])
    assert not garbage.valid and "000003.tsr" in garbage.problems[0]
