"""CA jobs."""

from __future__ import annotations

import flask

from wxbackend.ca.ocsp import ensure_ocsp_signer
from wxbackend.ca.service import load_authority
from wxbackend.core.jobs import job


@job("default", timeout=300)
def renew_ocsp_signer() -> str | None:
    """Renew the delegated OCSP-signing certificate when it is due (daily, from the cron table); the new serial, or
    None when the current one is kept — so a second run changes nothing."""
    config = flask.current_app.config  # (no proxy at module level: core.jobs.collect reads the module's names)
    record = ensure_ocsp_signer(config, authority=load_authority(config))
    return record.serial if record else None
