"""What a worker can serve, and what a fleet of workers can serve together."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineCapabilities:
    audio: bool
    image_to_video: bool

    def serves(self, *, audio: bool, image: bool) -> bool:
        """Whether a task that needs sound (``audio``) and/or an input image can run here."""
        return (self.audio or not audio) and (self.image_to_video or not image)


SERVES_EVERYTHING = EngineCapabilities(audio=True, image_to_video=True)


@dataclass(frozen=True)
class FleetOffer:
    """What a fleet of workers can serve: the kinds of worker in it. A task runs on one worker,
    so a task that needs sound and an input image needs a worker that does both; one worker
    with sound and another with image-to-video are not enough."""

    kinds: frozenset[EngineCapabilities]

    @classmethod
    def of(cls, *kinds: EngineCapabilities) -> FleetOffer:
        return cls(frozenset(kinds))

    @property
    def audio(self) -> bool:
        return any(kind.audio for kind in self.kinds)

    @property
    def image_to_video(self) -> bool:
        return any(kind.image_to_video for kind in self.kinds)

    def serves(self, *, audio: bool, image: bool) -> bool:
        return any(kind.serves(audio=audio, image=image) for kind in self.kinds)
