"""Detections: what engines and mailpolicy's own checks find in a message, as the engine's findings.

rspamd (and ClamAV through it) scans the message; mailpolicy itself finds lookalike domains,
recently registered sender domains (RDAP) and DMARC failures. None of them decides anything:
the engine weighs their findings against the settings.
"""
