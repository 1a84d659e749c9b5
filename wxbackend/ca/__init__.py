"""The local CA: issues customer certificates from CSRs, keeps every issued certificate, publishes a CRL."""
