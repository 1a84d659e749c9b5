"""Phone pages (H5) opened from the official account's menu."""
