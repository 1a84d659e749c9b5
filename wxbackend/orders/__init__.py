"""受理单: renewal orders, their status machine and eligibility."""
