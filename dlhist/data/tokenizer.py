"""A byte-level byte-pair-encoding (BPE) tokenizer, trained from scratch (Sennrich et al. 2016; GPT-2's byte-level
variant, Radford et al. 2019).

    tok = BPETokenizer.train(sentences, vocab_size=4000)
    ids = tok.encode("A man rides a horse.", bos=True, eos=True)   # [BOS, ..., EOS]
    tok.decode(ids)                                               # "A man rides a horse." (special ids skipped)
    tok.save("bpe.json"); BPETokenizer.load("bpe.json")

Text is UTF-8 bytes, so every string can be encoded and decoded back exactly: there are no unknown characters, and
an unseen letter (or emoji) simply costs more tokens. Training splits the text into pre-tokens (a word with its
leading space, a run of digits, a run of punctuation, whitespace) and repeatedly merges the most frequent adjacent
pair of symbols inside pre-tokens into a new symbol, ties broken by the smaller pair of ids so that training is
deterministic. Encoding applies the learned merges in the order they were learned.

Ids: 0..3 are the special tokens ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>`` (``<unk>`` is reserved for
word-level vocabularies and never produced here), 4..259 the 256 bytes, then one id per merge.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)
N_BYTES = 256
FORMAT = "dlhist-bpe-1"
# GPT-2's pre-tokenizer, with Latin letters written out (Python's re has no \p{L}): contractions, a word with its
# leading space, a run of digits, a run of other symbols, whitespace.
PRETOKEN = re.compile(r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|_+|\s+(?!\S)|\s+""")


def pretokenize(text: str) -> list[str]:
    return PRETOKEN.findall(text)


class BPETokenizer:
    def __init__(self, merges: Sequence[tuple[int, int]]):
        self.merges = [tuple(m) for m in merges]
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}
        first = len(SPECIALS) + N_BYTES
        self.bytes_of: list[bytes] = [b""] * len(SPECIALS) + [bytes([b]) for b in range(N_BYTES)]
        for i, (a, b) in enumerate(self.merges):
            if not (a < first + i and b < first + i):
                raise ValueError(f"merge {i} joins ids ({a}, {b}), which do not exist yet")
            self.bytes_of.append(self.bytes_of[a] + self.bytes_of[b])
        self._cache: dict[str, list[int]] = {}

    # ------------------------------------------------------------------------------------------------- training
    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> BPETokenizer:
        """Learn ``vocab_size - 260`` merges from ``texts`` (the vocabulary counts the 4 special tokens and the
        256 bytes)."""
        n_merges = vocab_size - len(SPECIALS) - N_BYTES
        if n_merges < 0:
            raise ValueError(f"vocab_size must be at least {len(SPECIALS) + N_BYTES} (specials and bytes), "
                             f"got {vocab_size}")
        counts = Counter(p for t in texts for p in pretokenize(t))
        if not counts:
            raise ValueError("cannot train a tokenizer on empty text")
        words = [[b + len(SPECIALS) for b in w.encode("utf-8")] for w in counts]
        freq = list(counts.values())
        pairs: Counter = Counter()
        where: dict[tuple[int, int], set[int]] = defaultdict(set)
        for i, w in enumerate(words):
            for pair in zip(w, w[1:]):
                pairs[pair] += freq[i]
                where[pair].add(i)
        heap = [(-n, pair) for pair, n in pairs.items()]  # a max-heap of counts, stale entries skipped on pop
        heapq.heapify(heap)
        merges = []
        next_id = len(SPECIALS) + N_BYTES
        while len(merges) < n_merges and heap:
            neg, best = heapq.heappop(heap)
            if pairs.get(best, 0) != -neg or -neg < 1:
                continue  # stale: the count changed since this entry was pushed
            merges.append(best)
            changed = set()
            for i in sorted(where.pop(best, ())):
                w = words[i]
                if len(w) < 2:
                    continue
                for pair in zip(w, w[1:]):
                    pairs[pair] -= freq[i]
                    changed.add(pair)
                new = _merge(w, best, next_id)
                words[i] = new
                for pair in zip(new, new[1:]):
                    pairs[pair] += freq[i]
                    where[pair].add(i)
                    changed.add(pair)
            for pair in changed:
                if pairs[pair] > 0:
                    heapq.heappush(heap, (-pairs[pair], pair))
                else:
                    del pairs[pair]
            next_id += 1
        return cls(merges)

    @property
    def fingerprint(self) -> str:
        """12 hex digits of the SHA-1 of the merges: two tokenizers with the same fingerprint give every text the
        same ids. Store it with a model trained on this tokenizer's ids to catch ids from another one."""
        return hashlib.sha1(json.dumps(self.merges).encode()).hexdigest()[:12]

    # ------------------------------------------------------------------------------------------------ encoding
    def __len__(self) -> int:
        return len(SPECIALS) + N_BYTES + len(self.merges)

    def _encode_piece(self, piece: str) -> list[int]:
        ids = self._cache.get(piece)
        if ids is None:
            ids = [b + len(SPECIALS) for b in piece.encode("utf-8")]
            first = len(SPECIALS) + N_BYTES
            while len(ids) > 1:
                ranked = [(self.ranks.get(p, len(self.ranks)), p) for p in zip(ids, ids[1:])]
                rank, pair = min(ranked)
                if rank == len(self.ranks):
                    break
                ids = _merge(ids, pair, first + rank)
            if len(self._cache) < 100_000:
                self._cache[piece] = ids
        return ids

    def encode(self, text: str, *, bos: bool = False, eos: bool = False, max_len: int | None = None) -> list[int]:
        """Token ids of ``text`` (an empty string gives no ids, apart from ``bos``/``eos``). With ``max_len``, a
        text that needs more tokens is an error that says how many, never a silent cut."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        ids = [i for piece in pretokenize(text) for i in self._encode_piece(piece)]
        ids = [BOS] * bos + ids + [EOS] * eos
        if max_len is not None and len(ids) > max_len:
            raise ValueError(f"the text needs {len(ids)} tokens, more than max_len={max_len}: "
                             f"{text[:60]!r}{'...' if len(text) > 60 else ''}")
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; special tokens are skipped, and bytes that do not form valid UTF-8 (a sequence cut
        in the middle of a character) become U+FFFD."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self):
                raise ValueError(f"token id {i} is outside this tokenizer's vocabulary of {len(self)}")
            out.append(self.bytes_of[i])
        return b"".join(out).decode("utf-8", errors="replace")

    def token(self, i: int) -> str:
        """A readable form of one token: its text, or the special token's name."""
        return SPECIALS[i] if i < len(SPECIALS) else self.bytes_of[i].decode("utf-8", errors="replace")

    # ----------------------------------------------------------------------------------------------- save/load
    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"format": FORMAT, "specials": list(SPECIALS), "merges": self.merges}))

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        try:
            data = json.loads(Path(path).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is not a dlhist tokenizer file (not JSON: {exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            what = data.get("format", "no format tag") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"{path} is not a {FORMAT} tokenizer file (it has {what!r}); it was written by another "
                             "tokenizer and its ids would mean something else")
        if tuple(data.get("specials", ())) != SPECIALS:
            raise ValueError(f"{path} has special tokens {data.get('specials')}, expected {list(SPECIALS)}")
        return cls([tuple(m) for m in data["merges"]])


def _merge(ids: list[int], pair: tuple[int, int], new: int) -> list[int]:
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
