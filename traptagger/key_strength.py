"""How many bits of randomness a secret key holds, estimated the way a guesser would.

A key is read left to right as the cheapest run of pieces, each costing the bits
a guesser needs to produce it (the zxcvbn idea, with the patterns that weak keys
are made of rather than a password dictionary):

* a character at random from the classes the key uses (lower case 26, upper case
  26, digits 10, ASCII symbols 33, anything else 100): log2 of that pool;
* a run of one character repeated, or a stretch of a sequence (the alphabet,
  digits, a keyboard row, forwards or backwards), 3 or more long: its first
  character, its length and its direction (log2(pool) + log2(length) + 1);
* a stretch repeating an earlier part of the key, 3 or more long: where and how
  long (log2(position) + log2(length)).

So ``0123456789`` repeated five times is worth about 17 bits, not the 166 that
Shannon entropy times length would credit it with, and ``secrets.token_urlsafe(50)``
(67 characters) is worth about 440. Only the first ``LOOKED_AT`` characters are read
(far more than a strong key needs), so that a huge key cannot slow every start.

Hand-written rather than zxcvbn: zxcvbn is built for human passwords (dictionaries,
dates, l33t), refuses input over 72 characters by default, and would be a run-time
dependency of settings for one check; the patterns above are those a typed or
generated placeholder has.
"""

from __future__ import annotations

import math
import string

_KEYBOARD = ("1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./",
             "!@#$%^&*()_+", "qwertzuiop", "azertyuiop", "qsdfghjklm", "wxcvbn")
_SEQUENCES = tuple(s for row in (string.ascii_lowercase, string.ascii_uppercase,
                                 string.digits, *_KEYBOARD,
                                 *(k.upper() for k in _KEYBOARD))
                   for s in (row, row[::-1]))
_SYMBOLS = set(string.punctuation)
_MIN_RUN = 3
LOOKED_AT = 256


def _pool(key: str) -> int:
    pool = 0
    for members, size in ((string.ascii_lowercase, 26), (string.ascii_uppercase, 26),
                          (string.digits, 10), (_SYMBOLS, 33)):
        if any(c in members for c in key):
            pool += size
    if any(not (c.isascii() and (c.isalnum() or c in _SYMBOLS)) for c in key):
        pool += 100
    return max(pool, 2)


def _pattern_length(key: str, i: int) -> int:
    """The longest repeated-character run or sequence stretch starting at ``i``."""
    same = i + 1
    while same < len(key) and key[same] == key[i]:
        same += 1
    best = same - i
    for sequence in _SEQUENCES:
        start = sequence.find(key[i])
        if start < 0:
            continue
        n = 1
        while (i + n < len(key) and start + n < len(sequence)
               and key[i + n] == sequence[start + n]):
            n += 1
        best = max(best, n)
    return best


def _repeat_length(key: str, i: int) -> int:
    """The longest stretch starting at ``i`` that also starts earlier in the key."""
    best = 0
    for start in range(i):
        n = 0
        while i + n < len(key) and key[start + n] == key[i + n]:
            n += 1
        best = max(best, n)
    return best


def estimated_bits(key: str) -> float:
    """Bits a guesser needs for ``key`` by the rules in the module docstring."""
    key = key[:LOOKED_AT]
    per_char = math.log2(_pool(key))
    bits, i = 0.0, 0
    while i < len(key):
        pattern, repeat = _pattern_length(key, i), _repeat_length(key, i)
        if repeat >= _MIN_RUN and repeat >= pattern:
            bits += math.log2(i) + math.log2(repeat)
            i += repeat
        elif pattern >= _MIN_RUN:
            bits += per_char + math.log2(pattern) + 1
            i += pattern
        else:
            bits += per_char
            i += 1
    return bits
