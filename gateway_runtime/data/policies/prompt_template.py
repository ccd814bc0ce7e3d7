"""prompt_template (request phase, 795): named templates, as Kong's ai-prompt-template does
(https://developer.konghq.com/plugins/ai-prompt-template/): a message whose content is exactly `{template://NAME}`
becomes the template's messages, rendered (sdk/templates.py: jinja2's sandbox, bounded work and output) with the
body's `properties`, which are removed before the upstream. It runs before the guard, so the guard checks what the
client's variables made of the prompt."""

from __future__ import annotations

from typing import Any

from lockgate.gateway_runtime.data.policies.base import RequestContext, Respond
from lockgate.sdk import PromptTemplate
from lockgate.sdk.templates import TemplateError, TooLong, compile_template, render

PREFIX = "{template://"


class PromptTemplatePolicy:
    name = "prompt_template"
    priority = 795
    phase = "checked"

    def __init__(self, spec: PromptTemplate) -> None:
        self._templates = {t.name: [(m.role, compile_template(m.content)) for m in t.messages] for t in spec.templates}
        self._allow_untemplated = spec.allow_untemplated
        self._limit = spec.max_output_chars

    def on_request(self, ctx: RequestContext) -> Respond | None:
        body = ctx.body
        properties = body.pop("properties", None)
        messages = body.get("messages")
        asked = [
            (index, message["content"])
            for index, message in enumerate(messages if isinstance(messages, list) else ())
            if isinstance(message, dict)
            and isinstance(message.get("content"), str)
            and message["content"].startswith(PREFIX)
        ]
        if not asked:
            if self._allow_untemplated:
                return None
            names = ", ".join(sorted(self._templates))
            message = (
                f"This route takes only templated prompts: send a message '{PREFIX}NAME}}' with NAME one of {names}."
            )
            return Respond(400, message, "template_required", "messages")
        if len(asked) > 1:
            return Respond(
                400, "A request may ask for one template.", "invalid_request", f"messages[{asked[1][0]}].content"
            )
        index, content = asked[0]
        where = f"messages[{index}].content"
        name = content[len(PREFIX) :].removesuffix("}")
        template = self._templates.get(name) if content.endswith("}") else None
        if template is None:
            names = ", ".join(sorted(self._templates))
            return Respond(
                400, f"No prompt template {name[:80]!r} here: ask for one of {names}.", "unknown_template", where
            )
        if properties is not None and not isinstance(properties, dict):
            return Respond(
                400, "'properties' must be an object: the template's variables.", "invalid_request", "properties"
            )
        rendered: list[tuple[str, str]] = []
        budget = self._limit
        try:
            for role, compiled in template:
                text = render(compiled, properties or {}, budget)
                budget -= len(text)
                rendered.append((role, text))
        except TooLong:
            message = (
                f"Template {name!r} renders to more than its max_output_chars ({self._limit}) with these variables."
            )
            return Respond(400, message, "template_error", "properties")
        except TemplateError as exc:
            message = f"Template {name!r} {exc} (its variables go in the body's 'properties')."
            return Respond(400, message, "template_error", "properties")
        made: list[Any] = [{"role": role, "content": text} for role, text in rendered if role != "system"]
        assert isinstance(messages, list)
        messages[index : index + 1] = made
        system = [(role, text) for role, text in rendered if role == "system"]
        if system:
            ctx.api.decorate(body, system, [])
        return None
