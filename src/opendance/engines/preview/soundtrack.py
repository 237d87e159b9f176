"""The soundtrack: a short synthesized piece whose key, mode, chords and tempo come from the hash.

Composition (``soundtrack``) picks the notes; a wavetable synthesizer (``_Mixer``) plays them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final, TypeAlias

import numpy as np

from opendance.engines.base import AudioTrack
from opendance.engines.preview.seeding import spec_rng

if TYPE_CHECKING:
    import numpy.typing as npt

    from opendance.domain.spec import GenerationSpec

    Samples: TypeAlias = npt.NDArray[np.float32]

SAMPLE_RATE: Final = 48_000

_MODES: Final = (
    (0, 2, 4, 5, 7, 9, 11),  # major
    (0, 2, 3, 5, 7, 8, 10),  # natural minor
    (0, 2, 3, 5, 7, 9, 10),  # dorian
    (0, 2, 4, 5, 7, 9, 10),  # mixolydian
)
_PROGRESSIONS: Final = ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 3), (5, 3, 0, 4), (0, 2, 3, 4))
_ARPEGGIOS: Final = ((0, 1, 2, 3, 0, 1, 2, 3), (0, 1, 2, 3, 2, 1, 0, 1), (0, 2, 1, 2, 0, 2, 1, 2))
_TIMBRES: Final = ((1.0, 0.5, 0.33, 0.25, 0.2), (1.0, 0.0, 0.4, 0.0, 0.2), (1.0, 0.2, 0.05))
_TABLE_BITS: Final = 12


def soundtrack(spec: GenerationSpec) -> AudioTrack:
    """A short piece derived from the prompt hash: key, mode, chord progression, tempo, arpeggio
    pattern and timbre. Stereo float32 at 48 kHz, exactly ``frame_count / fps`` seconds long."""
    rng = spec_rng(spec, "audio")
    mixer = _Mixer(spec.frame_count * SAMPLE_RATE // spec.fps)
    root = 45 + int(rng.integers(12))  # A2 .. G#3
    mode = _MODES[int(rng.integers(len(_MODES)))]
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    pattern = _ARPEGGIOS[int(rng.integers(len(_ARPEGGIOS)))]
    lead = _wavetable(_TIMBRES[int(rng.integers(len(_TIMBRES)))])
    warm, sine = _wavetable((1.0, 0.3, 0.1)), _wavetable((1.0,))
    beat = 60 / float(rng.uniform(84, 124))
    bar = 4 * beat
    for index in range(math.ceil(mixer.seconds / bar)):
        degree = progression[index % len(progression)]
        chord = [mode[(degree + s) % 7] + 12 * ((degree + s) // 7) for s in (0, 2, 4)]
        start = index * bar
        for k, semitone in enumerate(chord):  # pad, spread across the stereo field
            mixer.note(start, bar + 0.3, root + 12 + semitone, warm, 0.07, 0.25, 3.0, (k - 1) / 2)
        mixer.note(start, bar, root - 12 + chord[0], sine, 0.25, 0.01, 1.2, 0.0)  # bass
        tones = [*chord, chord[0] + 12]
        for step, tone in enumerate(pattern):  # eighth-note arpeggio, alternating sides
            pan = 0.45 if step % 2 else -0.45
            mixer.note(
                start + step * beat / 2, 0.6, root + 24 + tones[tone], lead, 0.1, 0.005, 0.22, pan
            )
    return AudioTrack(samples=mixer.master(), sample_rate=SAMPLE_RATE)


def _wavetable(harmonics: tuple[float, ...]) -> Samples:
    """One period of a waveform; notes index it instead of calling ``sin`` per harmonic."""
    phase = np.arange(1 << _TABLE_BITS) / (1 << _TABLE_BITS)
    wave = np.zeros(phase.shape, np.float64)
    for k, weight in enumerate(harmonics):
        wave += weight * np.sin(2 * math.pi * (k + 1) * phase)
    table: Samples = (wave / np.abs(wave).max()).astype(np.float32)
    return table


class _Mixer:
    """A stereo buffer that notes are added to; envelopes are computed once per note shape."""

    def __init__(self, total: int) -> None:
        self.out: Samples = np.zeros((2, total), np.float32)
        self.seconds = total / SAMPLE_RATE
        self._envelopes: dict[tuple[int, float, float], Samples] = {}

    def note(
        self,
        start: float,
        length: float,
        midi: int,
        table: Samples,
        gain: float,
        attack: float,
        decay: float,
        pan: float,
    ) -> None:
        """Mix one note in (clipped at the end): wavetable x envelope, equal-power panning."""
        first = round(start * SAMPLE_RATE)
        count = min(round(length * SAMPLE_RATE), self.out.shape[1] - first)
        if count <= 0:
            return
        freq = 440.0 * 2 ** ((midi - 69) / 12)
        step = round(freq * (1 << _TABLE_BITS) / SAMPLE_RATE * (1 << 16))  # 16.16 fixed point
        index = (np.arange(count, dtype=np.int64) * step >> 16) & ((1 << _TABLE_BITS) - 1)
        signal = table[index] * self._envelope(count, attack, decay) * np.float32(gain)
        angle = (pan + 1) * math.pi / 4
        self.out[0, first : first + count] += signal * np.float32(math.cos(angle))
        self.out[1, first : first + count] += signal * np.float32(math.sin(angle))

    def _envelope(self, count: int, attack: float, decay: float) -> Samples:
        """Linear attack, exponential decay, and a 50 ms release so no note ends in a click."""
        key = (count, attack, decay)
        if key not in self._envelopes:
            t = np.arange(count, dtype=np.float32) / SAMPLE_RATE
            release = np.minimum((count - np.arange(count)) / (0.05 * SAMPLE_RATE), 1.0)
            envelope = np.minimum(t / attack, 1.0) * np.exp(-t / decay) * release
            self._envelopes[key] = envelope.astype(np.float32)
        return self._envelopes[key]

    def master(self) -> Samples:
        """Normalised to a peak of 0.8, faded in over 20 ms and out over a third of a second."""
        out, total = self.out, self.out.shape[1]
        out *= np.float32(0.8 / max(float(np.abs(out).max()), 1e-6))
        fade_in, fade_out = min(SAMPLE_RATE // 50, total), min(SAMPLE_RATE // 3, total)
        out[:, :fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)
        out[:, total - fade_out :] *= np.linspace(1, 0, fade_out, dtype=np.float32)
        return out
