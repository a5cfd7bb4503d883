"""How long what a caller hears lasts, and what it says: the measures the caller checker adds up."""

from __future__ import annotations

import pytest

from ivr.model import Pause, Speech
from ivr.timing import SpeechClock, says_number, word_count


def test_words_are_counted_as_a_voice_says_them() -> None:
    assert word_count("Bel Tele-Onthaal op 1 0 6.") == 6  # each digit said on its own is a word
    assert word_count("Je répète : 1 0 7.") == 5  # a lone colon is not
    assert word_count("") == 0


def test_speech_lasts_its_words_per_second_and_a_pause_its_seconds() -> None:
    speech_clock = SpeechClock({"nl": 2.0, "fr": 2.5})
    assert speech_clock.seconds(Speech("k", "nl", "Adem rustig in.")) == pytest.approx(1.5)
    assert speech_clock.seconds(Speech("k", "fr", "Inspirez doucement par le nez.")) == pytest.approx(2.0)
    assert speech_clock.seconds(Pause(4)) == 4.0


def test_real_audio_lengths_replace_the_estimate_where_known() -> None:
    speech_clock = SpeechClock({"nl": 2.0}, duration_of=lambda speech: 7.25 if speech.key == "built" else None)
    assert speech_clock.seconds(Speech("built", "nl", "Adem in.")) == 7.25
    assert speech_clock.seconds(Speech("not_built", "nl", "Adem in.")) == pytest.approx(1.0)
    assert speech_clock.seconds(Pause(3)) == 3.0


@pytest.mark.parametrize(
    ("text", "number", "said"),
    [
        ("Bel 1 0 6.", "1 0 6", True),
        ("Tele-Onthaal, 1 0 6, en Télé-Accueil, 1 0 7.", "1 0 7", True),
        ("Bel 1 0 6, 1 0 7.", "1 0 6", True),  # groups of one number are joined by ", "
        ("Bel 2 1 0 6.", "1 0 6", False),
        ("Bel 1 0 6 7.", "1 0 6", False),
        ("Bel 1 0 6.", "1 0 7", False),
    ],
)
def test_a_number_counts_only_when_said_whole(text: str, number: str, said: bool) -> None:
    assert says_number(text, number) is said
