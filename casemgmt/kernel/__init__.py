"""What every package may import: domain errors, roles, the database's own guards."""
