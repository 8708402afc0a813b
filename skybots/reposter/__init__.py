"""One run of one bot: sources, filters, dedup, rate governor, report."""
