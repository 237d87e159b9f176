"""Parameters written into the prompt, the older Ark style: ``a cat on a roof --rs 480p --dur 4``.

Ark's first video models took their parameters as ``--name value`` flags at the end of the
text, and clients written then still send them. Each flag is read and cut out of the prompt, so
that the engine never draws "--rs 480p"; a top-level field of the request wins over a flag (the
door decides that). A ``--word`` that is not one of these flags, or a flag without a value, is
left in the text: it may be part of what the user wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from opendance.domain import presets

# flag spelling -> the request parameter it sets (Ark's long and short names)
FLAG_PARAMETERS: Final = {
    "resolution": "resolution",
    "rs": "resolution",
    "ratio": "ratio",
    "rt": "ratio",
    "duration": "duration",
    "dur": "duration",
    "seed": "seed",
    "camerafixed": "camera_fixed",
    "cf": "camera_fixed",
    "framespersecond": "framespersecond",
    "fps": "framespersecond",
    "watermark": "watermark",
    "wm": "watermark",
}

# Longest names first, so that "--resolution" is never read as "--rs"-something; a flag starts
# the text or follows white space (a look-behind: a run of white space is never rescanned, so
# the scan stays linear), and its value is the next word (which is no flag itself). The white
# space after the value goes with it, so that a flag cut from the middle leaves one space.
_FLAG: Final = re.compile(
    r"(?<!\S)--("
    + "|".join(sorted(FLAG_PARAMETERS, key=len, reverse=True))
    + r")\s+(?!--)(\S+)\s*",
    re.IGNORECASE,
)
MAX_TEXT_CHARS: Final = 4 * presets.MAX_PROMPT_CHARS
"""The content text with its flags: the prompt's limit leaves room for flags, not for more."""


@dataclass(frozen=True)
class Flag:
    """One flag found in the text: ``spelling`` as written (for messages), its raw value."""

    spelling: str
    value: str

    @property
    def source(self) -> str:
        return f"--{self.spelling} in the content text"


@dataclass(frozen=True)
class PromptFlags:
    prompt: str
    """The text with every flag cut out, white space at its ends stripped."""
    flags: dict[str, Flag]
    """Parameter name -> the flag that set it (the last one, if the text repeats it)."""


def parse_flags(text: str) -> PromptFlags:
    found: dict[str, Flag] = {}

    def cut(match: re.Match[str]) -> str:
        spelling = match.group(1)
        found[FLAG_PARAMETERS[spelling.lower()]] = Flag(spelling, match.group(2))
        return ""

    return PromptFlags(_FLAG.sub(cut, text).strip(), found)
