"""Reporting rounds: figures asked of every community and village for a period, filled in
forms, checked, signed off level by level and written once into the registry."""
