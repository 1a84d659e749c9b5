"""人工客服: what followers write to the official account when they ask for a person, and staff's answers."""
