"""Static discovery of training entry points: config style, framework, launch hints (ast, never run)."""
