"""The distinct lower-cased capability strings of an index, found by substring through 3-grams.

Rules: each distinct string has an id (``sid``, ints that only grow) and the agents declaring
it. Every 3-gram of a string maps to a compact posting array of sids; sids only grow, so the
arrays stay sorted by appending. A term of three characters or more takes the shortest posting
array among its 3-grams and verifies the substring on those strings only; a shorter term checks
every distinct string. Removed strings are skipped while reading and compacted away once they
make up half of the postings.

Memory: no object per string: the text, its holders and its sid live in two lists and a dict
(most strings belong to one agent, whose id is kept as a plain str: a set costs ~200 bytes).
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Collection, Iterable

__all__ = ["StringTable", "lower"]

_N = 3
Holders = str | set[str] | None


def lower(text: str) -> str:
    """``text.lower()``, but the same object when it is already lower case (the table then
    shares the record's string instead of holding a copy)."""
    low = text.lower()
    return text if low == text else low


def _new_posting() -> array[int]:
    return array("i")


def _grams(text: str) -> set[str]:
    return {text[i:i + _N] for i in range(len(text) - _N + 1)}


class StringTable:
    """Distinct strings, their holders and their 3-gram postings."""

    def __init__(self) -> None:
        self._sid_of: dict[str, int] = {}
        self.texts: list[str | None] = []  # by sid; None once released
        self.holders: list[Holders] = []  # by sid
        self._postings: defaultdict[str, array[int]] = defaultdict(_new_posting)
        self._dead_postings = 0
        self._live_postings = 0
        self.dead_slots = 0  # released sids still holding a list slot (see renumber)

    def __len__(self) -> int:
        return len(self._sid_of)

    def items(self) -> Iterable[tuple[str, int]]:
        """``(text, sid)`` of every live string."""
        return self._sid_of.items()

    def agents(self, sid: int) -> Collection[str]:
        h = self.holders[sid]
        if h is None:
            return ()
        return (h,) if type(h) is str else h

    def take(self, caps: Iterable[str], agent_id: str) -> None:
        """Add ``agent_id`` as a holder of the strings ``caps`` (lower-cased), each once."""
        sid_of, holders = self._sid_of, self.holders
        done: list[int] = []
        for c in caps:
            sid = sid_of.get(c)
            if sid is None:
                text = lower(c)
                sid = sid_of.get(text)
                if sid is None:
                    sid = self._intern(text)
            if sid in done:
                continue
            done.append(sid)
            h = holders[sid]
            if h is None:
                holders[sid] = agent_id
            elif isinstance(h, str):
                if h != agent_id:
                    holders[sid] = {h, agent_id}
            else:
                h.add(agent_id)

    def release(self, caps: Iterable[str], agent_id: str) -> None:
        """Drop ``agent_id`` from the holders of the strings ``caps``; those left without one
        go."""
        sid_of, holders = self._sid_of, self.holders
        for c in caps:
            sid = sid_of.get(c)
            if sid is None:
                sid = sid_of.get(lower(c))
                if sid is None:
                    continue  # released already (a string listed twice)
            h = holders[sid]
            if isinstance(h, str):
                if h == agent_id:
                    holders[sid] = None
            elif h is not None:
                h.discard(agent_id)
                if len(h) == 1:
                    holders[sid] = next(iter(h))
            if holders[sid] is None:
                self._drop(sid)

    def _intern(self, text: str) -> int:
        sid = len(self.texts)
        self._sid_of[text] = sid
        self.texts.append(text)
        self.holders.append(None)
        grams = _grams(text)
        postings = self._postings
        for g in grams:
            postings[g].append(sid)
        self._live_postings += len(grams)
        return sid

    def _drop(self, sid: int) -> None:
        text = self.texts[sid]
        assert text is not None
        del self._sid_of[text]
        self.texts[sid] = None
        self.dead_slots += 1
        n = len(_grams(text))
        self._live_postings -= n
        self._dead_postings += n
        if self._dead_postings > max(1024, self._live_postings):
            self._compact()

    def _compact(self) -> None:
        texts = self.texts
        for g in list(self._postings):
            arr = array("i", (sid for sid in self._postings[g] if texts[sid] is not None))
            if arr:
                self._postings[g] = arr
            else:
                del self._postings[g]
        self._dead_postings = 0

    def renumber(self) -> None:
        """Give the live strings the sids 0, 1, ... again (the lists lose their dead slots)."""
        moved: dict[int, int] = {}
        texts: list[str | None] = []
        holders: list[Holders] = []
        for old, text in enumerate(self.texts):
            if text is not None:
                moved[old] = len(texts)
                texts.append(text)
                holders.append(self.holders[old])
        self.texts, self.holders, self.dead_slots = texts, holders, 0
        self._sid_of = {t: moved[s] for t, s in self._sid_of.items()}
        self._postings = defaultdict(_new_posting)
        for sid, text in enumerate(texts):
            assert text is not None
            for g in _grams(text):
                self._postings[g].append(sid)
        self._dead_postings = 0

    def matching(self, term: str) -> list[int]:
        """Sids of the live strings containing ``term`` (already lower-cased)."""
        texts = self.texts
        if len(term) < _N:
            return [sid for text, sid in self._sid_of.items() if term in text]
        best: array[int] | None = None
        for i in range(len(term) - _N + 1):
            arr = self._postings.get(term[i:i + _N])
            if arr is None:
                return []
            if best is None or len(arr) < len(best):
                best = arr
        assert best is not None
        out = []
        for sid in best:
            text = texts[sid]
            if text is not None and term in text:
                out.append(sid)
        return out

    def count(self, sids: Iterable[int]) -> int:
        """How many holders the strings ``sids`` have in all (agents counted per string)."""
        n = 0
        for sid in sids:
            h = self.holders[sid]
            n += 0 if h is None else 1 if type(h) is str else len(h)
        return n
