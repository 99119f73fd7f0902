"""Demonstration content for `carreau seed demo`: filled in by the participation work."""
