"""Prompts that carry context into a chunk: names and terms from the session notes,
then the end of the text that came before. Whisper reads at most 224 prompt tokens
and drops the oldest beyond that, so we trim from the front ourselves and keep
the glossary."""

from __future__ import annotations

import math
import re

PROMPT_TOKEN_LIMIT = 224
# Terms take at most this share of the budget; the rest is for continuity text.
TERMS_SHARE = 0.4

_PIECE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_WORD = re.compile(r"[^\W\d_][\w'’.-]*\w|[^\W\d_]", re.UNICODE)
_QUOTED = re.compile(r"[\"“]([^\"”\n]{2,60})[\"”]")

# Capitalised words that start sentences or are common, not names or terms.
_STOPWORDS = frozenset("""
a an and are as at be but by for from has have he her his i if in into is it its me my no not of on or our
she so that the their them then there these they this to us was we were what when where which who will with
you your yes today tomorrow yesterday monday tuesday wednesday thursday friday saturday sunday notes session
meeting agenda also please next last first
""".split())


def estimate_tokens(text: str) -> int:
    """An upper-leaning estimate of GPT-2/Whisper BPE tokens, without the tokenizer.

    ASCII words cost about one token per four characters; other scripts about one
    per two UTF-8 bytes; punctuation one each. Over-estimating only shortens the
    prompt, under-estimating would let Whisper cut our glossary.
    """
    tokens = 0
    for piece in _PIECE.findall(text):
        if piece.isascii():
            tokens += max(1, math.ceil(len(piece) / 4))
        else:
            tokens += max(1, math.ceil(len(piece.encode("utf-8")) / 2))
    return tokens


def extract_terms(session_notes: str) -> list[str]:
    """Names and terms worth priming: quoted phrases, capitalised words, acronyms,
    words with digits or inner capitals, in order of first appearance."""
    terms: list[str] = []
    seen: set[str] = set()

    def add(term: str) -> None:
        key = term.lower()
        if key not in seen and key not in _STOPWORDS:
            seen.add(key)
            terms.append(term)

    for quoted in _QUOTED.findall(session_notes):
        add(quoted.strip())
    for match in _WORD.finditer(session_notes):
        if session_notes[match.end():match.end() + 1] == ":":
            continue  # a label such as "Attendees:", not a term
        word = match.group().rstrip(".")
        if word[:1].isupper() or any(ch.isdigit() for ch in word) or any(ch.isupper() for ch in word[1:]):
            add(word)
    return terms


def tail_within(text: str, token_budget: int) -> str:
    """The longest ending of `text`, cut at a word boundary, within `token_budget` tokens."""
    words = text.split()
    kept: list[str] = []
    used = 0
    for word in reversed(words):
        cost = estimate_tokens(word)
        if used + cost > token_budget:
            break
        kept.append(word)
        used += cost
    return " ".join(reversed(kept))


def build_prompt(previous_text: str = "", session_notes: str = "",
                 token_limit: int = PROMPT_TOKEN_LIMIT) -> str:
    """Glossary from the notes first, then as much of the end of `previous_text` as fits."""
    glossary = ""
    terms = extract_terms(session_notes or "")
    if terms:
        budget = int(token_limit * TERMS_SHARE)
        chosen: list[str] = []
        for term in terms:
            candidate = "Names and terms: " + ", ".join([*chosen, term]) + "."
            if estimate_tokens(candidate) > budget:
                break
            chosen.append(term)
        if chosen:
            glossary = "Names and terms: " + ", ".join(chosen) + "."
    remaining = token_limit - estimate_tokens(glossary)
    tail = tail_within((previous_text or "").strip(), remaining)
    return " ".join(part for part in (glossary, tail) if part)
