"""Reviewed applications (DESIGN §11): the materials, printable form, uploads and staff review behind a 受理单 that
cannot be renewed online — an expired certificate now (`expired_renewal`), a lost key later (`replacement`)."""
