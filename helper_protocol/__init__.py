"""What the backend, the PC pages and the key helper agree on (DESIGN §7): the helper ticket's wire format, the
operation names a ticket is for, and the helper's stable error codes.

Standard library only: no Flask, no server configuration, so both the backend and the helper that ships alone to
the customer's PC can import it.
"""

__version__ = "1.0.0"
