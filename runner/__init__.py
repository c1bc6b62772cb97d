"""The small orchestrator."""
