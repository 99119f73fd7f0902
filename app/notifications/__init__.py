"""Following consultations, proposals and actions; in-app notifications and emails (immediate or daily digest)."""
