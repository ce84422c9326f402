"""The GraphQL schema over the three query services: one module per service owns its types and fields."""
