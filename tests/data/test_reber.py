import itertools
import re
from collections import defaultdict

import pytest
import torch

from dlhist.data.reber import (
    SYMBOLS,
    ContinualReber,
    continual_stream,
    from_string,
    legal_sets,
    one_hot,
    reber_string,
    reber_strings,
    to_string,
)

# An independent recogniser: the Reber graph written as a regular expression, derived by hand from the figure
# (after "BT": S* X; after "BP": T* V; from the node after X: X T* V P loops back, S or X T* V V ends).
AFTER_X = r"(?:XT*VP)*(?:S|XT*VV)"
REBER = rf"B(?:TS*X{AFTER_X}|PT*V(?:V|P{AFTER_X}))E"
EMBEDDED = rf"B(?:T{REBER}T|P{REBER}P)E"


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_the_recogniser_itself():
    for good in ("BTXSE", "BPVVE", "BTSSXXTVVE", "BPTTVPXVPSE", "BTXXVPSE"):
        assert re.fullmatch(REBER, good), good
    for bad in ("BTXE", "BTSSE", "BPVPE", "BTXSEE", "TXSE", "BPXVVE"):
        assert not re.fullmatch(REBER, bad), bad
    assert re.fullmatch(EMBEDDED, "BTBTXSETE") and not re.fullmatch(EMBEDDED, "BTBTXSEPE")


@pytest.mark.parametrize("embedded", [True, False])
def test_strings_are_grammatical_and_cover_the_grammar(embedded):
    strings = [to_string(s.symbols) for s in reber_strings(3000, embedded=embedded, generator=gen())]
    pattern = EMBEDDED if embedded else REBER
    assert all(re.fullmatch(pattern, s) for s in strings)
    assert len(set(strings)) > 300  # many different strings, not a few repeated
    inner = [s[2:-2] if embedded else s for s in strings]
    assert min(map(len, inner)) == 5  # the shortest Reber strings, BTXSE and BPVVE, are drawn
    if embedded:
        assert {s[1] for s in strings} == {"T", "P"} and all(s[1] == s[-2] for s in strings)
        assert 0.45 < sum(s[1] == "T" for s in strings) / len(strings) < 0.55  # each branch with probability 1/2


def empirical_next_sets(strings):
    """Every prefix seen at least 30 times -> the set of symbols that followed it in the sample."""
    seen, follow = defaultdict(int), defaultdict(set)
    for s in strings:
        for t in range(1, len(s)):
            seen[s[:t]] += 1
            follow[s[:t]].add(s[t])
    return {p: follow[p] for p, n in seen.items() if n >= 30}


@pytest.mark.parametrize("embedded", [True, False])
def test_legal_sets_are_the_grammars_next_symbols(embedded):
    seqs = reber_strings(4000, embedded=embedded, generator=gen(1))
    observed = empirical_next_sets([to_string(s.symbols) for s in seqs])
    assert len(observed) > 40
    checked = 0
    for s in seqs[:500]:
        text, sets = to_string(s.symbols), legal_sets(s.legal)
        assert sets[-1] == ""  # nothing follows the final E
        for t in range(len(text) - 1):
            assert text[t + 1] in sets[t]  # the symbol that came is legal
            if text[: t + 1] in observed:  # and the legal set is what the sample shows can follow
                assert set(sets[t]) == observed[text[: t + 1]], (text[: t + 1], sets[t])
                checked += 1
    assert checked > 1000


def test_long_range_positions_are_the_inner_end():
    for s in reber_strings(200, generator=gen(2)):
        text, sets = to_string(s.symbols), legal_sets(s.legal)
        assert s.long_range.nonzero().flatten().tolist() == [len(text) - 3]  # the inner E, before the closing T/P
        assert text[-3] == "E" and sets[-3] == text[1]  # and only the symbol after the first B may follow it
    assert not reber_string(embedded=False, generator=gen()).long_range.any()


def test_continual_stream_is_grammatical_without_breaks():
    s = continual_stream(5000, 3, generator=gen(3))
    assert s.symbols.shape == (5000, 3) and s.legal.shape == (5000, 3, 7) and s.long_range.shape == (5000, 3)
    for b in range(3):
        text = to_string(s.symbols[:, b])
        last = text.rfind("EB") + 1  # the last complete string ends here (an outer E is followed by B)
        assert re.fullmatch(rf"(?:{EMBEDDED})+", text[:last]) and len(text) - last < 60
        sets = legal_sets(s.legal[:, b])
        assert all(text[t + 1] in sets[t] for t in range(len(text) - 1))
        outer_e = [m.start() for m in re.finditer("EB", text)]  # every string's final E (an inner E precedes T/P)
        assert len(outer_e) > 300 and all(sets[t] == "B" for t in outer_e)  # after it, the next string's B
        long = s.long_range[:, b].nonzero().flatten().tolist()
        assert long[: len(outer_e)] == [t - 2 for t in outer_e]  # the inner E of every complete string
        assert len(long) - len(outer_e) in (0, 1) and all(t > outer_e[-1] for t in long[len(outer_e):])
        assert all(text[t] == "E" and sets[t] in ("T", "P") for t in long)


def test_continual_chunks_continue_one_stream():
    chunks = list(itertools.islice(iter(ContinualReber(4, 50, seed=5)), 4))
    x = torch.cat([c.x for c in chunks])
    assert x.shape == (200, 4, 7) and torch.equal(x.sum(-1), torch.ones(200, 4))
    whole = continual_stream(200, 4, generator=gen(5))
    assert torch.equal(x, one_hot(whole.symbols))  # the same seed, cut into chunks, is the same stream
    assert torch.equal(torch.cat([c.y for c in chunks]), whole.legal.float())
    assert torch.equal(torch.cat([c.long_range for c in chunks]), whole.long_range)


def test_seeds_reproduce():
    a, b = reber_strings(20, generator=gen(7)), reber_strings(20, generator=gen(7))
    assert all(torch.equal(u, v) for s, r in zip(a, b) for u, v in zip(s, r))
    assert [to_string(s.symbols) for s in a] != [to_string(s.symbols) for s in reber_strings(20, generator=gen(8))]
    s1, s2 = continual_stream(300, 2, generator=gen(9)), continual_stream(300, 2, generator=gen(9))
    assert all(torch.equal(u, v) for u, v in zip(s1, s2))
    assert not torch.equal(s1.symbols, continual_stream(300, 2, generator=gen(10)).symbols)
    c1 = next(iter(ContinualReber(2, 30, seed=1)))
    c2 = next(iter(ContinualReber(2, 30, seed=1)))
    assert all(torch.equal(u, v) for u, v in zip(c1, c2))


def test_string_round_trip():
    assert to_string(from_string("BTBTXSETE")) == "BTBTXSETE"
    assert one_hot(from_string("BE")).tolist()[1] == [0.0] * 6 + [1.0]
    assert SYMBOLS == "BTSXPVE"


@pytest.mark.parametrize("call, name", [
    (lambda: continual_stream(0), "length"),
    (lambda: continual_stream(10, 0), "batch"),
    (lambda: continual_stream(-5), "length"),
    (lambda: continual_stream(2.5), "length"),
    (lambda: reber_strings(0), "n"),
    (lambda: ContinualReber(0, 10), "batch_size"),
    (lambda: ContinualReber(4, 0), "chunk_length"),
])
def test_impossible_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must be a positive integer"):
        call()


def test_other_errors():
    with pytest.raises(ValueError, match="outside BTSXPVE"):
        from_string("BTA")
    with pytest.raises(ValueError, match="1-D"):
        to_string(torch.zeros(2, 2, dtype=torch.long))
