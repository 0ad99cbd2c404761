"""Shared-Service Risk Workbench: the domain core, storage and services behind the app and the `risk` command."""
