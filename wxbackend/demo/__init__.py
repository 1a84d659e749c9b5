"""Development tooling: demo keys on SoftHSM2 that look like a customer's U-KEY."""
