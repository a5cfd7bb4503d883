"""Characters no TwiML document may carry, checked wherever text enters the service: the YAML files and announcements.

XML 1.0 (section 2.2) allows tab, newline, carriage return, U+0020-U+D7FF, U+E000-U+FFFD and U+10000-U+10FFFF.
A C0 control, a lone surrogate or U+FFFE/U+FFFF in a <Say> makes the whole answer not well-formed, and Twilio
refuses it (error 12100): the caller gets the fallback at best. DEL, the C1 controls (U+0080-U+009F) and the other
noncharacters (U+FDD0-U+FDEF, the last two code points of each plane) are refused as well, although XML 1.0 only
discourages them: nobody types them on purpose (they come with a paste of mis-decoded text, U+0092 for an
apostrophe), a voice has no sound for them, and XML 1.1 allows the controls only as references.
"""

from __future__ import annotations

import re

_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(chr(plane * 0x10000 + 0xFFFE) + chr(plane * 0x10000 + 0xFFFF) for plane in range(17))
FORBIDDEN = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff{_NONCHARACTERS}]")
HINT = "delete it and type the words around it again: it is invisible, and usually comes with a paste (or an escape like \\x01)"


def describe(char: str) -> str:
    """``char`` named for an operator: its code point and what kind of character it is."""
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        kind = "half of a surrogate pair, alone"
    elif code <= 0x9F:
        kind = "a control character"
    else:
        kind = "a noncharacter"
    return f"U+{code:04X} ({kind})"


def forbidden(text: str) -> str | None:
    """Why ``text`` cannot be said in a TwiML document: its first forbidden character and where it is; None when it can."""
    found = FORBIDDEN.search(text)
    if found is None:
        return None
    return f"character {found.start() + 1} of the text is {describe(found.group())}, which no TwiML document may carry"
