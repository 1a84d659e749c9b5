"""One adapter per outside service (DESIGN §2, STYLE 5): explicit timeouts, failures as one UpstreamError.
Imports no domain."""
