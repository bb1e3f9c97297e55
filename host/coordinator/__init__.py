"""Dispatch of instance puts: the repository alone for static classes, or a two-phase
transaction across the providers of every level of the derivation (and the repository)."""

from host.coordinator.dispatch import Dispatcher
from host.coordinator.registry import Level, ProviderRegistry
from host.coordinator.transactions import Coordinator, Timeouts

__all__ = ["Coordinator", "Dispatcher", "Level", "ProviderRegistry", "Timeouts"]
