"""A dashboard over the marts: replies, reply rates, follow-ups and freshness (`make dashboard`)."""
