"""``fixed_lens``: how a request for a static camera reaches a text-conditioned video model.

Neither LTX-2 nor Wan has a camera-control input in its base pipeline, so the request is
expressed the way both models were trained to understand it: a camera phrase appended to the
prompt, and camera motion named in the negative prompt (classifier-free guidance pushes away
from it). Without ``fixed_lens`` the model chooses its own camera.
"""

from __future__ import annotations

from typing import Final

STATIC_CAMERA_PROMPT: Final = (
    "Static camera, locked-off tripod shot: the camera does not move, pan, tilt or zoom."
)
CAMERA_MOTION_NEGATIVE: Final = (
    "camera movement, camera pan, camera tilt, zoom in, zoom out, dolly, tracking shot, "
    "handheld, shaky camera"
)


def conditioned_prompts(prompt: str, negative: str, *, fixed_lens: bool) -> tuple[str, str]:
    """The prompt and negative prompt to give the model."""
    if not fixed_lens:
        return prompt, negative
    joined_negative = (
        f"{negative}, {CAMERA_MOTION_NEGATIVE}" if negative else CAMERA_MOTION_NEGATIVE
    )
    return f"{prompt.rstrip()} {STATIC_CAMERA_PROMPT}", joined_negative
