"""Assisted participation: a mediator at a counter registers a resident who is present, verifies their
residence and records a proposal, a support or a ballot for them (channel `assisted`)."""
