"""pii_redaction (request phase, 770; and the answer on the way back): personal data and secrets masked (or the
request refused) before the upstream sees them, and masked in the answer, streams included. A stream's text is held
back only from where a finding could still be growing (the unfinished word or digit groups at its end; at most the
longest span a finding can have), so time to first token grows by that window and no more. What was found is
counted by kind (never the values) for the request's log."""

from __future__ import annotations

from lockgate.gateway_runtime.data.policies.base import RequestContext, Respond
from lockgate.gateway_runtime.data.policies.pii_detectors import BUILT_IN, Detector, Detectors, Found, masked
from lockgate.sdk import PiiRedaction


def _count(counts: dict[str, int], found: list[Found]) -> None:
    for one in found:
        counts[one.kind] = counts.get(one.kind, 0) + 1


class Hold:
    """One streamed text: what is sent is masked; what a finding could still grow from waits (at most `span`)."""

    __slots__ = ("_counts", "_detectors", "_pending")

    def __init__(self, detectors: Detectors, counts: dict[str, int]) -> None:
        self._detectors, self._counts, self._pending = detectors, counts, ""

    def push(self, text: str) -> str:
        pending = self._pending + text
        found = self._detectors.find(pending)
        cut = max(0, self._detectors.unfinished(pending))
        for one in found:
            if one.start < cut < one.end:  # a finding across the cut waits whole
                cut = one.start
        sent = [one for one in found if one.end <= cut]
        _count(self._counts, sent)
        self._pending = pending[cut:]
        return masked(pending[:cut], sent)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        found = self._detectors.find(rest)
        _count(self._counts, found)
        return masked(rest, found)


class Redactor:
    """The answer filter a request registers: whole answers masked at once, streamed texts through a `Hold`."""

    def __init__(self, detectors: Detectors, counts: dict[str, int]) -> None:
        self._detectors, self._counts = detectors, counts

    def whole(self, text: str) -> str:
        found = self._detectors.find(text)
        _count(self._counts, found)
        return masked(text, found)

    def hold(self) -> Hold:
        return Hold(self._detectors, self._counts)


class PiiRedactionPolicy:
    name = "pii_redaction"
    priority = 770
    phase = "checked"

    def __init__(self, spec: PiiRedaction) -> None:
        custom = [Detector(p.name, p.pattern, p.max_length) for p in spec.custom]  # tried first: they are yours
        self._detectors = Detectors([*custom, *(d for name, d in BUILT_IN.items() if name in spec.detectors)])
        self._reject = spec.mode == "reject"
        self._request = spec.direction in ("request", "both")
        self._response = spec.direction in ("response", "both")

    def on_request(self, ctx: RequestContext) -> Respond | None:
        if self._request and self._reject:
            for said in ctx.api.texts(ctx.body):
                found = self._detectors.find(said.text)
                if found:
                    _count(ctx.redacted, found)
                    kinds = ", ".join(sorted({one.kind for one in found}))
                    message = f"The request holds personal data or secrets ({kinds}) in {said.where}: remove them."
                    return Respond(400, message, "pii_detected", said.where)
        elif self._request:
            ctx.api.map_texts(ctx.body, Redactor(self._detectors, ctx.redacted).whole)
        if self._response:
            ctx.answer_filters.append(Redactor(self._detectors, ctx.redacted))
        return None
