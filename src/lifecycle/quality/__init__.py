"""Data quality: Great Expectations suites (in ``expectations/``) run against the warehouse as a gate.

``lifecycle.quality.validate`` has ``validate`` and ``record_history``; importing it loads GE (seconds).
"""
