"""Receivers of airis: one package per component type."""
