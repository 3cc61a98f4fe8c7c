"""Spec tables: value types, property and class definitions, the built-in classes and the MRA loader."""

from .model import CURRENT_RELEASE, Access, ClassDef, PropertyDef, Rule
from .registry import DecodedValue, Registry, builtin_registry, default_registry

__all__ = [
    "CURRENT_RELEASE",
    "Access",
    "ClassDef",
    "DecodedValue",
    "PropertyDef",
    "Registry",
    "Rule",
    "builtin_registry",
    "default_registry",
]
