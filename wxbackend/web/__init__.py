"""The web floor every domain shares: customer auth, error pages, shared forms, base templates and static.
Imports no domain."""
