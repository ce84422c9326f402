"""Authentication, roles, tenants and rate limits shared by every airis surface (see `principal`)."""
