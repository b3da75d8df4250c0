"""Usage reports and data retention."""
