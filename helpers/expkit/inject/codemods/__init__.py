"""One small codemod per framework. Each exposes DESCRIPTION, `applies(analysis)` and `plan(plan, opts)`."""
