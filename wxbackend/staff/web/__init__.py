"""The console's own pages (sign-in, home, staff accounts)."""
