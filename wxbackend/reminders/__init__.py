"""Expiry reminders (issue 15): certificates and 应用 reminded at set days around their end, to every bound user."""
