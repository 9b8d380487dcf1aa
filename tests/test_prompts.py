"""Prompts stay inside Whisper's 224-token window and keep the glossary first."""

from transcription.prompts import PROMPT_TOKEN_LIMIT, build_prompt, estimate_tokens, extract_terms, tail_within


def test_terms_are_names_acronyms_and_quoted_phrases():
    notes = 'Attendees: Dr. Anna Kowalski, Bjørn; topics "quarterly OKR review" and Kubernetes 1.31 on the roadmap.'
    terms = extract_terms(notes)
    assert "Anna" in terms and "Kowalski" in terms and "Bjørn" in terms
    assert "quarterly OKR review" in terms and "Kubernetes" in terms
    assert "the" not in terms and "roadmap" not in terms


def test_prompt_holds_the_end_of_the_previous_text_within_the_limit():
    previous = " ".join(f"word{i}" for i in range(2000))
    prompt = build_prompt(previous, "Meeting with Alice Smith about Terraform.")
    assert prompt.startswith("Names and terms: ")
    assert "Alice" in prompt and "Terraform" in prompt
    assert prompt.endswith("word1999")
    assert estimate_tokens(prompt) <= PROMPT_TOKEN_LIMIT
    assert "word0 " not in prompt


def test_long_notes_leave_room_for_continuity():
    notes = " ".join(f"Name{i}" for i in range(500))
    prompt = build_prompt("the last sentence of the previous chunk", notes)
    assert prompt.endswith("the last sentence of the previous chunk")
    assert estimate_tokens(prompt) <= PROMPT_TOKEN_LIMIT


def test_non_latin_text_is_counted_conservatively():
    text = "会議の議事録 " * 200
    tail = tail_within(text, 100)
    assert tail and estimate_tokens(tail) <= 100
    # a CJK character costs at least one token in Whisper's tokenizer
    assert estimate_tokens("会議の議事録") >= 6


def test_empty_inputs_give_an_empty_prompt():
    assert build_prompt("", "") == ""


def test_labels_are_not_terms():
    assert extract_terms("Attendees: Alice. Topics: Kubernetes") == ["Alice", "Kubernetes"]
