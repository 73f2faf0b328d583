"""Python environments: managers (conda, mamba, micromamba, uv, venv), dependency files, install, verify."""
