"""Generation: simulates the retailer's three source systems (app database, clickstream, ad spend).

``generate`` creates or continues a deterministic world under a sources folder and writes, beside the
sources, the ground truth the warehouse is checked against and a checksum manifest. See docs/sources.md.
"""

from lifecycle.generate.params import DefectRates, Volumes
from lifecycle.generate.runner import GenerationSummary, generate

__all__ = ["DefectRates", "GenerationSummary", "Volumes", "generate"]
