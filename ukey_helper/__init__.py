"""The key helper (DESIGN §7): a small local HTTP service on 127.0.0.1 that speaks PKCS#11 to the customer's U-KEY.

It never talks to the backend; the PC page carries messages between them. Every request must come with an
expected Host and an allowed Origin; every PIN-using or key-changing operation needs a backend-signed ticket.
It ships alone to the customer's PC (package `cagj-ukey-helper`) and imports only `helper_protocol` of this
repository.
"""

__version__ = "1.0.0"
