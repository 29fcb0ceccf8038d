"""Failover: move promotions and customer notices off a failed channel, and back (see README)."""
