"""Notices to users (WeChat template / subscribe messages), behind an adapter chosen by config."""
