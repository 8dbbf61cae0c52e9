"""lifecycle: an online retailer's data platform, from simulated sources to published marts."""

__version__ = "0.1.0"
