"""Every write of the billing app: the usage ledger metering keeps (`ledger`, `metering`,
`placements`)."""
