"""Payments: WeChat Pay and corporate transfer (对公打款)."""
