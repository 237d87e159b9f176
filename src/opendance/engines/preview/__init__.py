"""The CPU preview engine: a deterministic stand-in for a video model, for development and tests.

This is **not** a generative model and does not pretend to be one. It exists so that the whole
service (API, billing, queue, worker, encoder, storage, webhooks) runs end to end on a laptop or in
CI in seconds, and so that every option of the API has a visible, checkable effect:

* the prompt and seed are hashed; the hash picks the palette, the landscape, the shapes and their
  motion, the camera move and the music: different prompts give visibly different videos, and the
  same spec always gives identical frames and audio;
* the prompt is shown as a caption (with the seed), so a video is easy to match to its request;
* ``fixed_lens`` keeps the camera still and only the shapes move; otherwise the camera pans,
  pushes in, pulls out or drifts;
* image-to-video: frame 0 is exactly ``spec.first_frame``; then a slow Ken Burns move (none with
  ``fixed_lens``), a wandering light and floating motes animate it, fading in from frame 0;
* ``generate_audio`` adds a synthesized chord progression with bass and arpeggio, exactly as long
  as the video.

Cost: everything expensive (the world image, every rotation of every shape, the caption, the
soundtrack) is prepared once in ``generate``. A frame is then one nearest-neighbour affine view of
a twice-resolution source (sub-pixel camera moves without per-frame filtering) plus a few masked
pastes, all in Pillow's C code, which is far below what encoding the frame with H.264 costs.
Frames are yielded lazily, so a 12 s 720p video is never held in memory.

Modules, from the engine down:

* ``engine``     ``PreviewEngine``: checks the input, sets up scene and soundtrack, yields frames
* ``scenes``     text-to-video and image-to-video scenes: camera moves and per-frame composition
* ``landscape``  the text-to-video world: sky, sun or moon, stars, hills
* ``sprites``    what moves over the background: spinning shapes and floating motes
* ``caption``    the prompt and seed as a wrapped caption box
* ``overlay``    RGBA images pasted onto frames, and round soft glows
* ``palette``    the colours of one video, drawn from its seed
* ``seeding``    the random generator for one purpose of one spec
* ``soundtrack`` the synthesized music
"""

from __future__ import annotations

from opendance.engines.preview.engine import PreviewEngine
from opendance.engines.preview.soundtrack import SAMPLE_RATE, soundtrack

__all__ = ["SAMPLE_RATE", "PreviewEngine", "soundtrack"]
