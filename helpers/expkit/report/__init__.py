"""FINDINGS.md from results.yaml (jinja2 templates, so findings never disagree with results) and metric plots."""
