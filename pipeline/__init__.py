"""Pipeline options, CLI and assembly."""
