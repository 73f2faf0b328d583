"""What runs in the project's Python: expkit_plan_runtime.py, standard library only (see its docstring).

This folder holds nothing else, because the runner puts it on the handler process's sys.path.
"""
