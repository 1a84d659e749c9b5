"""Decisions with four eyes (DESIGN §15): approval requests bound to one revision of their object, ordered steps
each decided by its roles, one-time nonces on every decision, and the effect each kind runs once approved."""
