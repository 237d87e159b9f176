"""Reading ``GET /metrics`` the way Prometheus does: the exposition parsed by
prometheus_client's own parser, samples looked up by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

# Figures of the answering process itself; everything else is the fleet's, read from the database.
PER_PROCESS_PREFIXES = ("opendance_http_", "opendance_scrape_")


@dataclass(frozen=True)
class Scrape:
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]
    types: dict[str, str]  # family name -> counter, gauge, histogram

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                assert key not in samples, f"duplicate sample {key}"
                samples[key] = sample.value
        return cls(samples, types)

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when the series is absent (as for a label never seen)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples

    def fleet(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return {k: v for k, v in self.samples.items() if not k[0].startswith(PER_PROCESS_PREFIXES)}

    def per_process(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return {k: v for k, v in self.samples.items() if k[0].startswith(PER_PROCESS_PREFIXES)}


def scrape(client: httpx.Client, **headers: str) -> Scrape:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape.parse(response.text)
