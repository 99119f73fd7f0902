"""Evaluation: participation figures, representativeness, anonymised exports and open data."""
