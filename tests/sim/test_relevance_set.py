"""The hand-labelled agent-search relevance set (sim/bench/relevance): both files load, ids are
unique, every label names a card and is a grade 1-3, every query has a grade-3 agent, the
counts are met, and every card is a complete A2A 1.0 card under 6,000 bytes of compact JSON
with only .example hosts. Data checks only; no ranker runs here."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

DIR = Path(__file__).resolve().parents[2] / "sim" / "bench" / "relevance"
KINDS = ("keyword", "paraphrase", "need", "multi")
MIN_CARDS, MIN_QUERIES, MIN_PER_KIND = 130, 72, 18
CARD_LIMIT = 6000


def _load(name: str) -> Any:
    with open(DIR / name, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def cards() -> list[dict[str, Any]]:
    data = _load("cards.json")
    assert isinstance(data, list)
    return data


@pytest.fixture(scope="module")
def queries() -> list[dict[str, Any]]:
    data = _load("queries.json")
    assert isinstance(data, list)
    return data


def _texts(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(s, str) and s.strip() for s in v)


def _example_host(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and (parts.hostname or "").endswith(".example")


def test_the_readme_is_there() -> None:
    assert (DIR / "README.md").is_file()


def test_counts(cards: list[dict[str, Any]], queries: list[dict[str, Any]]) -> None:
    assert len(cards) >= MIN_CARDS
    assert len(queries) >= MIN_QUERIES
    kinds = Counter(q["kind"] for q in queries)
    assert set(kinds) == set(KINDS), kinds
    assert all(kinds[k] >= MIN_PER_KIND for k in KINDS), kinds


def test_ids_are_unique(cards: list[dict[str, Any]], queries: list[dict[str, Any]]) -> None:
    agents = [c["agent_id"] for c in cards]
    assert all(isinstance(a, str) and a for a in agents)
    assert [a for a, n in Counter(agents).items() if n > 1] == []
    qids = [q["id"] for q in queries]
    assert all(isinstance(i, str) and i for i in qids)
    assert [i for i, n in Counter(qids).items() if n > 1] == []
    texts = Counter(q["text"].strip().lower() for q in queries)
    assert [t for t, n in texts.items() if n > 1] == []


def test_every_card_is_a_complete_small_a2a_card(cards: list[dict[str, Any]]) -> None:
    for entry in cards:
        assert set(entry) == {"agent_id", "card"}, entry.get("agent_id")
        aid, card = entry["agent_id"], entry["card"]
        size = len(json.dumps(card, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        assert size < CARD_LIMIT, (aid, size)
        for key in ("name", "description", "version"):
            assert isinstance(card.get(key), str) and card[key].strip(), (aid, key)
        prov = card.get("provider")
        assert isinstance(prov, dict) and isinstance(prov.get("organization"), str), aid
        assert prov["organization"].strip() and _example_host(prov.get("url", "")), aid
        ifaces = card.get("supportedInterfaces")
        assert isinstance(ifaces, list) and ifaces, aid
        for i in ifaces:
            assert _example_host(i.get("url", "")) and i["url"].endswith("/a2a"), (aid, i)
            assert i.get("protocolBinding") == "JSONRPC" and i.get("protocolVersion") == "1.0"
        assert isinstance(card.get("capabilities"), dict), aid
        assert isinstance(card["capabilities"].get("streaming"), bool), aid
        for key in ("defaultInputModes", "defaultOutputModes"):
            assert _texts(card.get(key)) and card[key], (aid, key)
        skills = card.get("skills")
        assert isinstance(skills, list) and 1 <= len(skills) <= 5, aid
        sids = [s.get("id") for s in skills]
        assert len(set(sids)) == len(sids), aid
        for s in skills:
            for key in ("id", "name", "description"):
                assert isinstance(s.get(key), str) and s[key].strip(), (aid, key)
            assert _texts(s.get("tags")) and s["tags"], (aid, s["id"], "tags")
            assert _texts(s.get("examples")) and s["examples"], (aid, s["id"], "examples")


def test_labels_name_cards_and_every_query_has_a_best_agent(
        cards: list[dict[str, Any]], queries: list[dict[str, Any]]) -> None:
    agents = {c["agent_id"] for c in cards}
    for q in queries:
        assert set(q) == {"id", "kind", "text", "relevant"}, q.get("id")
        assert q["kind"] in KINDS and isinstance(q["text"], str) and q["text"].strip(), q["id"]
        rel = q["relevant"]
        assert isinstance(rel, dict) and rel, q["id"]
        assert sorted(set(rel) - agents) == [], q["id"]
        assert all(type(g) is int and g in (1, 2, 3) for g in rel.values()), q["id"]
        assert 3 in rel.values(), q["id"]
