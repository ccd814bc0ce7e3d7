"""PII detectors: one RE2 program for every detector a policy uses (one linear scan of a text finds them all), and
a check per detector that throws out what only looks like PII: payment cards must pass Luhn's check (ISO/IEC 7812),
IBANs ISO 13616's mod-97, US SSNs the SSA's rules (no area 000, 666 or 9xx, no group 00, no serial 0000), phone
numbers must have 10 to 15 digits (E.164's bound) and a country code or separated groups (a bare run of digits is
an order number as often as a phone number).

Every pattern's quantifiers are bounded, so a match spans at most `span` characters. A stream holds back less: a
built-in finding is a run of "word" characters (letters, digits, @._%+-:/=()), with single spaces only between
groups of digits or capitals (cards, phone numbers, IBANs, a PEM header), so only the unfinished run at the end of
the text can still become one (`unfinished`); a custom pattern may match anything, so with custom detectors the
last `max_length` characters wait too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lockgate.sdk.patterns import compile_any


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(text: str) -> bool:
    digits = "".join(c for c in text if c.isdigit())
    return 13 <= len(digits) <= 19 and _luhn(digits)


def _iban(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    moved = compact[4:] + compact[:4]
    return 15 <= len(compact) <= 34 and int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _ssn(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


def _phone(text: str) -> bool:
    return 10 <= sum(c.isdigit() for c in text) <= 15


@dataclass(frozen=True, slots=True)
class Detector:
    name: str
    pattern: str
    span: int  # the longest match it can make, in characters
    valid: Callable[[str], bool] | None = None
    runs: bool = False  # its matches are runs of word characters (see the module's docstring): built-in ones


_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@._%+-:/=()")
_BEFORE_GAP = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789)")
_AFTER_GAP = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789(")


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HEX = r"[0-9A-Fa-f]{1,4}"
# in the order they are tried at one position: the more specific first
BUILT_IN: dict[str, Detector] = {
    d.name: d
    for d in (
        Detector(
            "secret",
            r"(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,120}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,80}"
            r"|xox[abprs]-[A-Za-z0-9-]{10,80}|AIza[0-9A-Za-z_-]{35}|-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----"
            r"|eyJ[A-Za-z0-9_-]{8,200}\.eyJ[A-Za-z0-9_-]{8,400}\.[A-Za-z0-9_-]{8,200})",
            810,
            runs=True,
        ),
        Detector(
            "email",
            r"[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,4}[A-Za-z]{2,24}",
            64 + 1 + 4 * 64 + 24,
            runs=True,
        ),
        Detector("iban", r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b", 4 + 60, _iban, runs=True),
        Detector("payment_card", r"\b[0-9](?:[ -]?[0-9]){12,18}\b", 1 + 2 * 18, _card, runs=True),
        Detector("us_ssn", r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b", 11, _ssn, runs=True),
        Detector(
            "ip_address",
            rf"\b{_OCTET}(?:\.{_OCTET}){{3}}\b|\b(?:{_HEX}:){{7}}{_HEX}\b|\b(?:{_HEX}:){{1,6}}:(?:{_HEX}(?::{_HEX}){{0,5}})?",
            39,
            runs=True,
        ),
        Detector(  # with a country code (+44 7700 900123), or in separated groups (020 7946 0958): not a bare number
            "phone",
            r"\+[0-9]{1,3}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{2,4}(?:[ .-]?[0-9]{2,4}){1,4}\b"
            r"|(?:\([0-9]{1,4}\)[ .-]?|\b)[0-9]{2,4}(?:[ .-][0-9]{2,4}){1,4}\b",
            26,
            _phone,
            runs=True,
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Found:
    kind: str
    start: int
    end: int


class Detectors:
    """The detectors one policy uses, compiled into one program of named alternatives (and, for a match that fails
    its detector's check, a program of the detectors after it, to look again inside that match only)."""

    def __init__(self, detectors: Iterable[Detector]) -> None:
        chosen = list(detectors)
        self._kinds = {f"d{i}": d for i, d in enumerate(chosen)}  # group names of our own: any name may repeat
        self.span = max((d.span for d in chosen), default=0)
        self._free_span = max((d.span for d in chosen if not d.runs), default=0)
        self._program = self._compiled(list(self._kinds.items()))
        items = list(self._kinds.items())
        self._after = {g: self._compiled(items[i + 1 :]) for i, (g, d) in enumerate(items) if d.valid is not None}

    @staticmethod
    def _compiled(detectors: list[tuple[str, Detector]]) -> Any:
        return compile_any([f"(?P<{group}>{d.pattern})" for group, d in detectors]) if detectors else None

    def find(self, text: str) -> list[Found]:
        return self._find(self._program, text, 0)

    def unfinished(self, text: str) -> int:
        """Where the part of `text` that a finding could still grow from starts (a stream holds it back)."""
        end = len(text)
        floor = max(0, end - self.span)
        at = end
        while at > floor:
            char = text[at - 1]
            gap = char == " " and at >= 2 and text[at - 2] in _BEFORE_GAP and (at == end or text[at] in _AFTER_GAP)
            if char not in _WORD and not gap:
                break
            at -= 1
        return min(at, end - self._free_span) if self._free_span else at

    def _find(self, program: Any, text: str, offset: int) -> list[Found]:
        if program is None:
            return []
        found = []
        for match in program.finditer(text):
            group = match.lastgroup
            detector = self._kinds[group]
            if detector.valid is None or detector.valid(match.group()):
                found.append(Found(detector.name, offset + match.start(), offset + match.end()))
            else:  # not what it looked like: the later detectors may still find something in it
                found += self._find(self._after[group], match.group(), offset + match.start())
        return found


def masked(text: str, found: list[Found]) -> str:
    """`text` with each finding replaced by its kind, in capitals: `[EMAIL]`, `[PAYMENT_CARD]`."""
    out, at = [], 0
    for one in found:
        out += [text[at : one.start], f"[{one.kind.upper()}]"]
        at = one.end
    out.append(text[at:])
    return "".join(out)
