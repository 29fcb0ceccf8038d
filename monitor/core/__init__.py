"""Small shared basics every part may use (probes included): durations, redaction, money, the signed-webhook
format, config model bases, HTTP details (user agent, Retry-After) and time formatting. No I/O, no state."""
