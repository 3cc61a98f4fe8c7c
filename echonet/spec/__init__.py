"""Spec tables: value types, property and class definitions, the built-in classes and the MRA loader."""

from .identity import AppendixRelease, Identification, ProtocolVersion, release_text, version_text
from .model import CURRENT_RELEASE, Access, ClassDef, PropertyDef, Rule
from .registry import DecodedValue, Registry, builtin_registry, default_registry

__all__ = [
    "CURRENT_RELEASE",
    "Access",
    "AppendixRelease",
    "ClassDef",
    "DecodedValue",
    "Identification",
    "PropertyDef",
    "ProtocolVersion",
    "Registry",
    "Rule",
    "builtin_registry",
    "default_registry",
    "release_text",
    "version_text",
]
