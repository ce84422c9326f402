"""Roles checked per field: a field lists the permission class of the least role that may read it."""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission
from strawberry.types import Info

from collector.auth.principal import Role
from gateway.errors import ErrorCode


class _RolePermission(BasePermission):
    role: ClassVar[Role]
    error_extensions = {"code": ErrorCode.FORBIDDEN.value}

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        from gateway.graph.context import context_of

        allowed = context_of(info).principal.allows(self.role)
        if not allowed:
            self.message = f"this field needs the {self.role.name.lower()} role"
        return allowed


class Viewer(_RolePermission):
    """Readers of telemetry: every query field."""

    role = Role.VIEWER
    message = "this field needs the viewer role"


class Editor(_RolePermission):
    """Those who may change configuration (alert rules, later)."""

    role = Role.EDITOR
    message = "this field needs the editor role"


class Admin(_RolePermission):
    """Operators of airis itself: upstream health and the like."""

    role = Role.ADMIN
    message = "this field needs the admin role"


__all__ = ["Admin", "Editor", "Viewer"]
