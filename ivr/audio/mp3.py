"""How long an MP3 lasts, read from its frame headers (no audio library needed for that)."""

from __future__ import annotations

# Layer III bitrates (kbit/s) by bitrate index, for MPEG-1 and for MPEG-2/2.5.
_BITRATES = {
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Sample rates by the header's version bits: 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5 (1 is reserved).
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _frame_at(data: bytes, i: int) -> tuple[int, float, int] | None:
    """(frame length in bytes, seconds, side-information length) of an MPEG Layer III frame at ``i``."""
    if i + 4 > len(data) or data[i] != 0xFF or data[i + 1] & 0xE0 != 0xE0:
        return None
    version, layer = (data[i + 1] >> 3) & 3, (data[i + 1] >> 1) & 3
    bitrate_index, rate_index, padding = data[i + 2] >> 4, (data[i + 2] >> 2) & 3, (data[i + 2] >> 1) & 1
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _BITRATES[mpeg1][bitrate_index] * 1000
    rate = _SAMPLE_RATES[version][rate_index]
    mono = data[i + 3] >> 6 == 3
    length = (144 if mpeg1 else 72) * bitrate // rate + padding
    side = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    return length, (1152 if mpeg1 else 576) / rate, side


def mp3_duration(data: bytes) -> float | None:
    """Seconds of audio in MP3 ``data``, from its frame headers; None when it holds no MPEG audio.

    Handles what TTS output contains: ID3v2 tags (anywhere, since gTTS concatenates pieces),
    a Xing/Info header frame (metadata, not sound) and a truncated last frame (ignored).
    """
    i, n, seconds, frames = 0, len(data), 0.0, 0
    while i + 4 <= n:
        if data.startswith(b"ID3", i) and i + 10 <= n:
            size = (data[i + 6] & 0x7F) << 21 | (data[i + 7] & 0x7F) << 14 | (data[i + 8] & 0x7F) << 7 | data[i + 9] & 0x7F
            i += 10 + size + (10 if data[i + 5] & 0x10 else 0)
            continue
        frame = _frame_at(data, i)
        if frame is None or i + frame[0] > n:
            found = data.find(b"\xff", i + 1)
            if found < 0:
                break
            i = found
            continue
        length, frame_seconds, side = frame
        tag = data[i + 4 + side : i + 8 + side]
        if tag not in (b"Xing", b"Info"):
            seconds += frame_seconds
            frames += 1
        i += length
    return round(seconds, 3) if frames else None
