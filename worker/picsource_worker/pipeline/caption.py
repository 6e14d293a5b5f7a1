"""An honest, template-based caption used as alt text.

We only say what the analysis actually found: the top label (as "a photo of an
espresso"), how many people's faces were seen, the main colour families and, when the
picture contains readable text, that text. Nothing is invented, so a caption can be
shorter than a human one but never wrong about what the models reported.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_TEXT_CHARS = 60
_NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}


def make_caption(
    labels: Sequence[tuple[str, float]] = (),
    faces: int | None = None,
    families: Sequence[str] = (),
    text: str | None = None,
) -> str:
    """Build one sentence, e.g. "A photo of an espresso, mostly brown and white."."""
    subject = _subject(labels)
    people = _people(faces or 0)
    if subject and people:
        sentence = f"A photo of {subject} with {people}"
    elif subject:
        sentence = f"A photo of {subject}"
    elif people:
        sentence = f"A photo of {people}"
    else:
        sentence = "A photo"
    colours = _colours(families)
    if colours:
        sentence += f", mostly {colours}"
    snippet = _snippet(text)
    if snippet:
        sentence += f', with the text "{snippet}"'
    return sentence + "."


def with_article(noun: str) -> str:
    """'an espresso', 'a cup', 'an hourglass' is rare enough to ignore."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _subject(labels: Sequence[tuple[str, float]]) -> str:
    if not labels:
        return ""
    name = " ".join(labels[0][0].replace("_", " ").split())
    return with_article(name) if name else ""


def _people(faces: int) -> str:
    if faces <= 0:
        return ""
    if faces == 1:
        return "one person"
    return f"{_NUMBERS.get(faces, str(faces))} people"


def _colours(families: Sequence[str]) -> str:
    chosen = [f for f in families if f][:2]
    return " and ".join(chosen)


def _snippet(text: str | None) -> str:
    if not text:
        return ""
    flat = " ".join(text.replace('"', "'").split())
    if len(flat) <= MAX_TEXT_CHARS:
        return flat
    return flat[: MAX_TEXT_CHARS - 1].rsplit(" ", 1)[0] + "…"
