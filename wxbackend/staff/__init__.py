"""CA staff (DESIGN §15): accounts, roles, two-factor sign-in with lockout, and the console's own pages."""
