"""Binding a key to a phone (DESIGN §4): PC-side start and code, phone-side claim, PC-side confirmation."""
