# SalisMaxima/ct_scan_mlops tasks.py: structure re-typed (imports, entry-point calls, flags), not the original code
"""Invoke tasks, organized into namespaces: invoke <namespace>.<task>."""
import importlib.util
from pathlib import Path
from invoke import Collection
def load_module_from_file(module_name, file_path):
    spec = importlib.util.spec_from_file_location(module_name, file_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
tasks_dir = Path(__file__).parent / 'tasks'
core = load_module_from_file('core', tasks_dir / 'core.py')
data = load_module_from_file('data', tasks_dir / 'data.py')
train = load_module_from_file('train', tasks_dir / 'train.py')
eval_mod = load_module_from_file('eval', tasks_dir / 'eval.py')
docker = load_module_from_file('docker', tasks_dir / 'docker.py')
git_tasks = load_module_from_file('git_tasks', tasks_dir / 'git_tasks.py')
namespace = Collection()
namespace.add_collection(Collection.from_module(core), name='core')
namespace.add_collection(Collection.from_module(data), name='data')
namespace.add_collection(Collection.from_module(train), name='train')
namespace.add_collection(Collection.from_module(eval_mod), name='eval')
namespace.add_collection(Collection.from_module(docker), name='docker')
namespace.add_collection(Collection.from_module(git_tasks), name='git')
