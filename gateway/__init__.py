"""The GraphQL gateway (a later issue)."""
