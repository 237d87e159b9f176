"""What a client asked for, normalised: the one typed request every door writes and every
worker, status view, dashboard and webhook reads.

It is stored as JSON (the ``tasks.request`` column) in the shape the Seedance dialect echoes
in ``/v1/status``: the duration as a string, the first-frame image as ``image_urls``; what
only other dialects ask for (an exact output size, the last frame) follows those keys when set
and is left out of the echo. An inline ``data:`` image is not stored in the request (its bytes
go to the object store); a short stand-in (``data:image/png;base64,<N bytes>``) names it
instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from opendance.domain import presets, pricing
from opendance.domain.spec import GenerationSpec, VideoParameters

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class TaskRequest(VideoParameters):
    image_url: str | None = None
    """The first frame: an http(s) URL the worker fetches, or the stand-in of an inline image
    stored with the task."""
    callback_url: str | None = None
    output_size: tuple[int, int] | None = None
    """The (width, height) the MP4 must have when it differs from the preset's geometry: the
    worker scales the generated frames to it (an OpenAI ``size`` such as ``1280x720``)."""
    return_last_frame: bool = False
    """The client asked for the last frame as an image (Ark's ``return_last_frame``)."""

    @property
    def needs_audio(self) -> bool:
        return self.generate_audio

    @property
    def needs_image(self) -> bool:
        return self.image_url is not None

    @property
    def price(self) -> int:
        """Credits, by the price table."""
        return pricing.price(self.resolution, self.duration, self.generate_audio)

    @property
    def frame_size(self) -> tuple[int, int]:
        """The generated geometry. An adaptive ratio not yet resolved (its first frame not yet
        read) reads as 16:9, the ratio of adaptive without an image, until the worker records
        the ratio it made."""
        ratio = self.aspect_ratio
        if ratio == presets.ADAPTIVE:
            ratio = presets.ADAPTIVE_WITHOUT_IMAGE
        return presets.frame_size(ratio, self.resolution)

    def to_spec(self, first_frame: npt.NDArray[np.uint8] | None = None) -> GenerationSpec:
        """What the engine is asked to make (``first_frame`` already fitted to the frame), and
        the size the worker delivers it at. An adaptive aspect ratio must be resolved first."""
        # the shared fields by name: mypy cannot check a dict of them against the keywords
        return GenerationSpec(
            **self.video_parameters(),  # type: ignore[arg-type]
            first_frame=first_frame,
            output_size=self.output_size,
        )

    def resolved(self, image_size: tuple[int, int] | None) -> TaskRequest:
        """This request with an adaptive aspect ratio (``presets.ADAPTIVE``) made concrete
        from the first frame's (width, height): the offered ratio nearest it, or 16:9 without
        an image. Any other request is returned as it is."""
        if self.aspect_ratio != presets.ADAPTIVE:
            return self
        if image_size is None:
            return replace(self, aspect_ratio=presets.ADAPTIVE_WITHOUT_IMAGE)
        return replace(self, aspect_ratio=presets.nearest_aspect_ratio(*image_size))

    @property
    def delivered_size(self) -> tuple[int, int]:
        """The (width, height) of the MP4 the client gets."""
        return self.output_size or self.frame_size

    def to_json(self) -> dict[str, Any]:
        """The stored form: the Seedance echo, then the other dialects' options when set."""
        stored = self.echo_json()
        if self.output_size is not None:
            stored["output_size"] = "{}x{}".format(*self.output_size)
        if self.return_last_frame:
            stored["return_last_frame"] = True
        return stored

    def echo_json(self) -> dict[str, Any]:
        """The ``request`` of the Seedance status body: its key order and types are part of
        the contract (tests/api/test_pinned_bodies.py)."""
        echoed: dict[str, Any] = {
            "prompt": self.prompt,
            "aspect_ratio": self.aspect_ratio,
            "resolution": self.resolution,
            "duration": str(self.duration),
            "generate_audio": self.generate_audio,
            "fixed_lens": self.fixed_lens,
            "image_urls": [] if self.image_url is None else [self.image_url],
            "seed": self.seed,
        }
        if self.callback_url:
            echoed["callback_url"] = self.callback_url
        return echoed

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> TaskRequest:
        images = stored.get("image_urls") or ()
        return cls(
            prompt=str(stored["prompt"]),
            aspect_ratio=str(stored["aspect_ratio"]),
            resolution=str(stored["resolution"]),
            duration=int(stored["duration"]),
            generate_audio=bool(stored["generate_audio"]),
            fixed_lens=bool(stored["fixed_lens"]),
            seed=int(stored["seed"]),
            image_url=str(images[0]) if images else None,
            callback_url=stored.get("callback_url") or None,
            output_size=_size(stored.get("output_size")),
            return_last_frame=bool(stored.get("return_last_frame", False)),
        )


def _size(stored: object) -> tuple[int, int] | None:
    if not stored:
        return None
    width, height = str(stored).split("x")
    return int(width), int(height)


def inline_image_stand_in(mime: str, size: int) -> str:
    """What an inline image is echoed as: status polls would otherwise carry megabytes."""
    return f"data:{mime};base64,<{size} bytes>"
