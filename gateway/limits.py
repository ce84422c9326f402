"""Operation limits: depth (strawberry's limiter) and an estimated complexity, checked before execution."""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

VARIABLE_FIRST = 100
"""The page size assumed for a `first` given by a variable (its value is unknown during validation)."""


def complexity_rule(maximum: int) -> type[ValidationRule]:
    """A validation rule refusing operations whose estimated cost is above `maximum`.

    Each field costs 1 plus its selections' cost; a field with a `first` argument multiplies its
    selections' cost by it (a page of N items costs N times one item).
    """

    class ComplexityRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.fragments: dict[str, FragmentDefinitionNode] = {
                d.name.value: d for d in context.document.definitions if isinstance(d, FragmentDefinitionNode)
            }

        def cost(self, selections: SelectionSetNode | None, seen: frozenset[str]) -> int:
            total = 0
            for selection in selections.selections if selections else ():
                if isinstance(selection, FieldNode):
                    factor = 1
                    for argument in selection.arguments or ():
                        if argument.name.value in ("first", "limit"):
                            value = argument.value
                            factor = int(value.value) if isinstance(value, IntValueNode) else VARIABLE_FIRST
                    total += 1 + max(factor, 1) * self.cost(selection.selection_set, seen)
                elif isinstance(selection, InlineFragmentNode):
                    total += self.cost(selection.selection_set, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name in self.fragments and name not in seen:
                        total += self.cost(self.fragments[name].selection_set, seen | {name})
            return total

        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            cost = self.cost(node.selection_set, frozenset())
            if cost > maximum:
                self.report_error(
                    GraphQLError(
                        f"the operation's estimated complexity {cost} is above the limit {maximum}; "
                        "ask for fewer fields or smaller pages",
                        node,
                    )
                )

    return ComplexityRule


__all__ = ["complexity_rule"]
