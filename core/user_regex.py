"""Regular expressions that users give us: checked when set, bounded when run.

A regex is a small program. One that can backtrack catastrophically
(``^(a+)+$`` on a folder named ``aaaa…!``) takes time exponential in its
input, and a worker that runs it is lost to everyone else's work. So every
user-given regex (a survey's site and camera regex, the data pipeline's
``--site-regex``) goes through this module twice:

* when it is set, ``check_user_regex`` refuses it (``UserRegexError``, naming
  the field and what to do) if it is longer than ``USER_REGEX_MAX_LENGTH``,
  does not compile, or has a shape known to backtrack: a repeated part that
  can match nothing, a variable quantifier inside another quantifier where
  one repetition can end where the next begins (``(a+)+``, ``(\\w+\\s?)*``),
  or alternatives under a quantifier that can start with the same character
  (``(a|ab)*``). Inner quantifiers fenced off by a character they cannot
  match (``(\\w+/)*``, ``(\\d{1,3}\\.)+``) are fine. The check is static and
  conservative; it may refuse a harmless pattern, never runs one.
* when it runs, ``search`` uses the ``regex`` package with a per-match
  timeout (``USER_REGEX_TIMEOUT_SECONDS``): a pattern stored before the check
  existed, or one the check misses, costs at most that long per match and
  raises ``RegexTimeout`` for the caller to record against the file.

No well-kept library does the static check for Python's syntax, so it is
written here over the standard library's own parser (``re._parser``), about
a hundred lines.
"""

from __future__ import annotations

import re

# The standard library's own parser (private, stable since 3.11): the check reads
# the pattern exactly as Python reads it.
from re import _constants as C  # noqa: N812
from re import _parser as sre_parse

import regex
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

from core.exceptions import UserError

REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT)
# The characters the overlap check looks at: ASCII and Latin-1, enough to tell
# \w, \d, \s, classes and literals apart; anything else counts as "any other".
_ALPHABET = frozenset(chr(i) for i in range(0x250)) | {"\u4e00", "\u0416", "\u2028"}
_OTHER = "\uffff"  # stands for every character outside the alphabet
_ALL = _ALPHABET | {_OTHER}
_CATEGORY = {
    C.CATEGORY_DIGIT: str.isdigit,
    C.CATEGORY_SPACE: str.isspace,
    C.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
    C.CATEGORY_LINEBREAK: lambda c: c == "\n",
}
_NOT = {C.CATEGORY_NOT_DIGIT: C.CATEGORY_DIGIT, C.CATEGORY_NOT_SPACE: C.CATEGORY_SPACE,
        C.CATEGORY_NOT_WORD: C.CATEGORY_WORD, C.CATEGORY_NOT_LINEBREAK: C.CATEGORY_LINEBREAK}


class UserRegexError(UserError):
    """A user-given regex that is refused; the message names the field."""


class RegexTimeout(UserError):
    """A user-given regex took longer than USER_REGEX_TIMEOUT_SECONDS on one text."""


class _Risky(Exception):
    pass


def check_user_regex(pattern: str, *, field: str) -> regex.Pattern:
    """``pattern`` compiled for ``search``; UserRegexError naming ``field`` if refused."""
    limit = settings.USER_REGEX_MAX_LENGTH
    if len(pattern) > limit:
        raise UserRegexError(
            f"The {field} is {len(pattern)} characters long, over the limit of {limit} "
            "(USER_REGEX_MAX_LENGTH); write a shorter pattern.")
    try:
        parsed = sre_parse.parse(pattern)
        compiled = regex.compile(pattern)
    except (re.error, regex.error, RecursionError, OverflowError) as exc:
        raise UserRegexError(
            f"The {field} {pattern!r} is not a valid regular expression: {exc}") from exc
    try:
        _Walk(parsed.state.flags).sequence(list(parsed))
    except _Risky as exc:
        raise UserRegexError(
            f"The {field} {pattern!r} can take exponential time on some folder names "
            f"({exc}); rewrite it so that each character can be matched only one way, e.g. "
            r"'^[^/]+' for the top folder or '^([^/]+/){2}' for two levels.") from None
    except RecursionError:
        raise UserRegexError(f"The {field} is nested too deeply; simplify it.") from None
    return compiled


def search(compiled: regex.Pattern, text: str):
    """``compiled.search(text)`` bounded by USER_REGEX_TIMEOUT_SECONDS (RegexTimeout)."""
    seconds = settings.USER_REGEX_TIMEOUT_SECONDS
    try:
        return compiled.search(text, timeout=seconds)
    except TimeoutError:
        raise RegexTimeout(
            f"the regex {compiled.pattern!r} took longer than {seconds:g} s "
            "(USER_REGEX_TIMEOUT_SECONDS) on it; the survey's regex needs rewriting") from None


@deconstructible
class UserRegexValidator:
    """Model/form validator: the value passes ``check_user_regex`` (empty values pass)."""

    def __init__(self, field: str):
        self.field = field

    def __call__(self, value: str) -> None:
        if not value:
            return
        try:
            check_user_regex(value, field=self.field)
        except UserRegexError as exc:
            raise ValidationError(str(exc)) from exc

    def __eq__(self, other):
        return isinstance(other, UserRegexValidator) and other.field == self.field


class _Walk:
    """Walks a parsed pattern and raises _Risky at the first catastrophic shape."""

    def __init__(self, flags: int):
        self.ignorecase = bool(flags & re.IGNORECASE)
        self.dotall = bool(flags & re.DOTALL)

    # --- what an item can match -------------------------------------------------
    def chars_of(self, op, av) -> frozenset:
        """The characters a single-character item matches."""
        if op == C.LITERAL:
            found = {chr(av)}
        elif op == C.NOT_LITERAL:
            found = _ALL - {chr(av)}
        elif op == C.ANY:
            found = _ALL if self.dotall else _ALL - {"\n"}
        else:  # C.IN
            found, negate = set(), False
            for sub_op, sub_av in av:
                if sub_op == C.NEGATE:
                    negate = True
                elif sub_op == C.LITERAL:
                    found.add(chr(sub_av))
                elif sub_op == C.RANGE:
                    lo, hi = sub_av
                    found |= {c for c in _ALPHABET if lo <= ord(c) <= hi}
                    if hi > 0x24F:
                        found.add(_OTHER)
                elif sub_op == C.CATEGORY:
                    found |= self.category(sub_av)
                else:  # anything unusual: assume it may match anything
                    found |= _ALL
            if negate:
                found = _ALL - found
        if self.ignorecase:
            found |= {c.swapcase() for c in found if len(c.swapcase()) == 1}
        return frozenset(found)

    @staticmethod
    def category(cat) -> set:
        if cat in _NOT:
            return set(_ALL - _Walk.category(_NOT[cat]))
        test = _CATEGORY.get(cat)
        if test is None:
            return set(_ALL)
        return {c for c in _ALPHABET if test(c)} | {_OTHER}

    def first(self, items) -> tuple[frozenset, bool]:
        """(characters a sequence can start with, whether it can match nothing)."""
        found = frozenset()
        for op, av in items:
            chars, nullable = self.first_item(op, av)
            found |= chars
            if not nullable:
                return found, False
        return found, True

    def first_item(self, op, av) -> tuple[frozenset, bool]:
        if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN):
            return self.chars_of(op, av), False
        if op == C.SUBPATTERN:
            return self.first(list(av[-1]))
        if op == C.ATOMIC_GROUP:
            return self.first(list(av))
        if op in REPEATS or op == C.POSSESSIVE_REPEAT:
            chars, nullable = self.first(list(av[2]))
            return chars, nullable or av[0] == 0
        if op == C.BRANCH:
            parts = [self.first(list(alt)) for alt in av[1]]
            return frozenset().union(*(p[0] for p in parts)), any(p[1] for p in parts)
        if op == C.GROUPREF_EXISTS:
            parts = [self.first(list(alt)) for alt in av[1:] if alt is not None]
            return frozenset().union(*(p[0] for p in parts)), True
        if op == C.GROUPREF:
            return _ALL, True
        return frozenset(), True  # anchors and lookarounds consume nothing

    def all_chars(self, items) -> frozenset:
        """Every character a sequence can consume anywhere."""
        found = frozenset()
        for op, av in items:
            if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN):
                found |= self.chars_of(op, av)
            elif op == C.GROUPREF:
                found |= _ALL
            else:
                for sub in self.children(op, av):
                    found |= self.all_chars(sub)
        return found

    @staticmethod
    def children(op, av) -> list:
        if op == C.SUBPATTERN:
            return [list(av[-1])]
        if op in REPEATS or op == C.POSSESSIVE_REPEAT:
            return [list(av[2])]
        if op == C.ATOMIC_GROUP:
            return [list(av)]
        if op == C.BRANCH:
            return [list(alt) for alt in av[1]]
        if op == C.GROUPREF_EXISTS:
            return [list(alt) for alt in av[1:] if alt is not None]
        if op in (C.ASSERT, C.ASSERT_NOT):
            return [list(av[1])]
        return []

    # --- the checks ---------------------------------------------------------------
    def sequence(self, items) -> None:
        for op, av in items:
            if op in REPEATS and (av[1] == C.MAXREPEAT or av[1] > 1):
                self.repeated(list(av[2]))
            for sub in self.children(op, av):
                self.sequence(sub)

    def repeated(self, body) -> None:
        """Refuse a repeated ``body`` that can split the same text in many ways."""
        first, nullable = self.first(body)
        if nullable:
            raise _Risky("a repeated part can match nothing")
        flat = self.flatten(body)
        for index, (op, av) in enumerate(flat):
            if op in REPEATS and av[0] != av[1]:
                # What may come straight after this inner repeat: the rest of the
                # body, and the body's start again when the rest can match nothing.
                follow, rest_nullable = self.first(flat[index + 1:])
                if rest_nullable:
                    follow |= first
                if self.all_chars(list(av[2])) & follow:
                    raise _Risky("a quantifier inside a quantifier, with nothing "
                                 "between the repetitions that tells them apart")
            else:
                self.nested([(op, av)])

    def nested(self, items) -> None:
        """Inside a repeated part, below its top level: variable quantifiers in
        alternatives or lookarounds are not analysed further and are refused."""
        for op, av in items:
            if op == C.BRANCH:
                self.branches(av[1])
            elif op in REPEATS and av[0] != av[1]:
                raise _Risky("a quantifier inside a quantifier")
            for sub in self.children(op, av):
                self.nested(sub)

    def branches(self, alternatives) -> None:
        seen = frozenset()
        for alt in alternatives:
            chars, nullable = self.first(list(alt))
            if nullable or chars & seen:
                raise _Risky("alternatives under a quantifier that can match the same text")
            seen |= chars

    def flatten(self, items) -> list:
        """Groups opened into their contents: ``(a+)b`` reads as ``a+ b``."""
        flat = []
        for op, av in items:
            if op == C.SUBPATTERN:
                flat.extend(self.flatten(list(av[-1])))
            else:
                flat.append((op, av))
        return flat
