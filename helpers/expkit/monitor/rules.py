"""The failure categories, in one table: what to look for, which numbers to pull out, and what to do.

Each rule's `pattern` is written in the subset shared by POSIX extended regular expressions (grep -E) and
Python's `re` (literals, [classes], (a|b), ?, *, +, \\. escapes; no \\d, no lookarounds), so the same text finds
the lines with grep over a huge log and classifies them in Python. Patterns are case-sensitive and match the
messages the libraries really print (see tests/logs/).

`extract(lines, ctx)` gets the cleaned matching lines (oldest first) and returns the numbers of the message;
`summary(numbers)` says it in one line; `fixes(numbers, ctx)` gives concrete next steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

Numbers = dict[str, Any]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    pattern: str
    priority: int  # which finding is the cause when several match: the most specific wins
    confidence: float
    extract: Callable[[list[str], dict], Numbers] = lambda lines, ctx: {}
    summary: Callable[[Numbers], str] | None = None
    fixes: Callable[[Numbers, dict], list[str]] = lambda n, ctx: []
    severity: str = "error"  # error | warning | info
    first: bool = False  # the first occurrence matters (NaN onset), not the last
    exclude: str | None = None  # Python regex: a matching line that also matches this is not counted
    rx: re.Pattern = field(init=False, repr=False, compare=False)
    ex: re.Pattern | None = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "rx", re.compile(self.pattern))
        object.__setattr__(self, "ex", re.compile(self.exclude) if self.exclude else None)

    def matches(self, text: str) -> bool:
        return bool(self.rx.search(text)) and not (self.ex and self.ex.search(text))


def _search(rx: str, lines: list[str], group: int | str = 1, last: bool = True) -> str | None:
    compiled = re.compile(rx)
    for line in (reversed(lines) if last else lines):
        m = compiled.search(line)
        if m:
            return m.group(group)
    return None


def _all(rx: str, lines: list[str]) -> list[str]:
    compiled = re.compile(rx)
    return [m.group(0) for line in lines for m in compiled.finditer(line)]


# ---------------------------------------------------------------- CUDA out of memory
_SIZE = r"([0-9.]+ ?[KMGT]i?B)"


def _cuda_oom(lines, ctx):
    n = {
        "tried_to_allocate": _search(r"Tried to allocate " + _SIZE, lines),
        "gpu": _search(r"GPU ([0-9]+)", lines),
        "total_capacity": _search(r"total capacity of " + _SIZE, lines) or _search(_SIZE + r" total capacity", lines),
        "free": _search(r"of which " + _SIZE + r" is free", lines) or _search(_SIZE + r" free", lines),
        "already_allocated": _search(_SIZE + r" is allocated by PyTorch", lines)
        or _search(_SIZE + r" already allocated", lines),
        "reserved_unallocated": _search(_SIZE + r" is reserved by PyTorch but unallocated", lines),
        "reserved_total": _search(_SIZE + r" reserved in total by PyTorch", lines),
        "process_in_use": _search(r"this process has " + _SIZE + r" memory in use", lines),
    }
    return {k: v for k, v in n.items() if v is not None}


def _cuda_oom_summary(n):
    parts = []
    if n.get("tried_to_allocate"):
        parts.append(f"tried to allocate {n['tried_to_allocate']}")
    if n.get("total_capacity"):
        parts.append(f"GPU {n.get('gpu', '?')} total {n['total_capacity']}")
    if n.get("already_allocated"):
        parts.append(f"{n['already_allocated']} already allocated by PyTorch")
    if n.get("free"):
        parts.append(f"{n['free']} free")
    return "CUDA out of memory" + (": " + ", ".join(parts) if parts else "")


def _cuda_oom_fixes(n, ctx):
    fixes = [
        "halve the batch size and double gradient accumulation steps to keep the effective batch size",
        "train in bf16 (or fp16 with a GradScaler): torch.autocast('cuda', dtype=torch.bfloat16), "
        "or Trainer(bf16=True) / Lightning precision='bf16-mixed'",
        "enable gradient checkpointing (model.gradient_checkpointing_enable() for Hugging Face models, "
        "torch.utils.checkpoint otherwise)",
        "set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True (relaunch with "
        "--env PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True) to reduce fragmentation",
    ]
    if n.get("reserved_unallocated") and _gib(n["reserved_unallocated"]) >= 1:
        fixes.insert(0, f"{n['reserved_unallocated']} is reserved but unallocated (fragmentation): "
                        "try PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True first")
    fixes.append("check that nothing else uses the GPU (`expkit runs watch` shows its memory; nvidia-smi) and that "
                 "evaluation runs under torch.no_grad()")
    return fixes


def _gib(size: str) -> float:
    m = re.match(r"([0-9.]+) ?([KMGT])", size)
    if not m:
        return 0.0
    return float(m.group(1)) * {"K": 2**-20, "M": 2**-10, "G": 1, "T": 1024}[m.group(2)]


# ---------------------------------------------------------------- NaN / inf loss
_NUM_STEP = [r"(?:global_step|step|Step|STEP|iter|Iter|it)[ =:\[]+([0-9]+)", r"'step': ([0-9]+)",
             r"\| *([0-9]+)/[0-9]+ *\["]


def _nan(lines, ctx):
    first = lines[0]
    n: Numbers = {}
    for rx in _NUM_STEP:
        m = re.search(rx, first)
        if m:
            n["step"] = int(m.group(1))
            break
    m = re.search(r"[Ee]poch['\"]?[ =:\[]+([0-9.]+)", first)
    if m:
        n["epoch"] = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
    if ctx.get("last_finite_loss") is not None:
        n["last_finite_loss"] = ctx["last_finite_loss"]
    value = re.search(r"([-+]?(nan|NaN|NAN|inf|Inf))", first)
    if value:
        n["value"] = value.group(1).lower()
    return n


def _nan_summary(n):
    where = f" at step {n['step']}" if "step" in n else ""
    where += f" (epoch {n['epoch']})" if "epoch" in n else ""
    last = f"; last finite loss {n['last_finite_loss']}" if n.get("last_finite_loss") is not None else ""
    return f"the loss became {n.get('value', 'nan')}{where}{last}"


def _nan_fixes(n, ctx):
    return [
        "lower the learning rate (try 10x lower) and add a warmup",
        "clip gradients: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) "
        "(Trainer(max_grad_norm=1.0), Lightning gradient_clip_val=1.0)",
        "use bf16 instead of fp16, or fp16 with a GradScaler (fp16 overflows to inf)",
        "check the inputs and labels of the failing step for nan/inf (torch.isfinite(x).all()) and add an epsilon "
        "to log/sqrt/division",
        "find the op that produces it with torch.autograd.set_detect_anomaly(True) on a short rerun",
    ]


# ---------------------------------------------------------------- CUDA errors
def _device_assert(lines, ctx):
    n = {"assertion": _search(r"Assertion `([^`]+)` failed", lines),
         "kernel": _search(r"([A-Za-z_0-9]+): block: \[", lines)}
    return {k: v for k, v in n.items() if v}


def _device_assert_fixes(n, ctx):
    fixes = []
    text = (n.get("assertion") or "") + (n.get("kernel") or "")
    if "n_classes" in text or "nll_loss" in text or "t >= 0" in text:
        fixes.append("a label is outside [0, num_classes): check targets.min() and targets.max() against the "
                     "model's output size (use ignore_index=-100 for ignored labels)")
    if "index" in text.lower() or "srcIndex" in text or "indexSelect" in text:
        fixes.append("an index is out of range: for embeddings, token ids >= vocab size "
                     "(after adding tokens call model.resize_token_embeddings(len(tokenizer)))")
    fixes += ["rerun with CUDA_LAUNCH_BLOCKING=1 (or on CPU, --gpus none) to get the exact failing line",
              "the CUDA context is broken after this error: the process must restart"]
    return fixes


def _sm(lines, ctx):
    n = {"capability": _search(r"CUDA capability (sm_[0-9]+)", lines),
         "gpu_name": _search(r"\b([A-Z][\w -]*?) with CUDA capability", lines),
         "supported": _search(r"supports CUDA capabilities ((?:sm_[0-9]+ ?)+)", lines)}
    return {k: v.strip() for k, v in n.items() if v}


def _sm_fixes(n, ctx):
    cap = n.get("capability", "this GPU's architecture")
    return [f"install a PyTorch build compiled for {cap}: pick the CUDA variant on https://pytorch.org/get-started/locally/ "
            "(e.g. pip install torch --index-url https://download.pytorch.org/whl/cu128 for sm_120 Blackwell GPUs)",
            "rebuild custom CUDA extensions for this GPU (TORCH_CUDA_ARCH_LIST) after changing torch"]


def _driver(lines, ctx):
    n: Numbers = {}
    found = _search(r"found version ([0-9]+)", lines)
    if found:
        v = int(found)
        n["driver_cuda_version"] = f"{v // 1000}.{(v % 1000) // 10}"
    if any("not compiled with CUDA" in line for line in lines):
        n["kind"] = "cpu_only_torch"
    elif any("No CUDA GPUs are available" in line or "no NVIDIA driver" in line for line in lines):
        n["kind"] = "no_gpu_visible"
    else:
        n["kind"] = "driver_too_old"
    if ctx.get("cuda_visible_devices") is not None:
        n["cuda_visible_devices"] = ctx["cuda_visible_devices"]
    return n


def _driver_summary(n):
    return {"cpu_only_torch": "this PyTorch was built without CUDA",
            "no_gpu_visible": "no GPU was visible to the process"
            + (f" (CUDA_VISIBLE_DEVICES={n['cuda_visible_devices']!r})" if "cuda_visible_devices" in n else ""),
            }.get(n.get("kind"), "the NVIDIA driver is older than the CUDA runtime PyTorch was built with"
                  + (f" (driver supports CUDA {n['driver_cuda_version']})" if "driver_cuda_version" in n else ""))


def _driver_fixes(n, ctx):
    if n.get("kind") == "cpu_only_torch":
        return ["install a CUDA build of torch in the run's environment: "
                "pip install torch --index-url https://download.pytorch.org/whl/cu124 (match your driver)"]
    if n.get("kind") == "no_gpu_visible":
        return ["check --gpus / CUDA_VISIBLE_DEVICES of the run and that this node has a GPU (nvidia-smi)",
                "on Slurm, request one: #SBATCH --gres=gpu:1"]
    v = n.get("driver_cuda_version", "the driver's version")
    return [f"install a torch build for a CUDA version the driver supports (CUDA {v}): pick it on "
            "https://pytorch.org/get-started/previous-versions/ (the +cuXXX wheels)",
            "or update the NVIDIA driver (nvidia-smi shows the highest CUDA version it supports)"]


# ---------------------------------------------------------------- NCCL
def _nccl_timeout(lines, ctx):
    n = {"op": _search(r"OpType=([A-Z_]+)", lines),
         "timeout_ms": _search(r"Timeout\(ms\)=([0-9]+)", lines),
         "ran_for_ms": _search(r"ran for ([0-9]+) milliseconds", lines),
         "seq": _search(r"SeqNum=([0-9]+)", lines)}
    ranks = sorted({int(r) for r in re.findall(r"\[Rank ([0-9]+)\]", "\n".join(lines))})
    n = {k: (int(v) if v and v.isdigit() else v) for k, v in n.items() if v}
    if ranks:
        n["ranks"] = ranks
    return n


def _nccl_timeout_summary(n):
    op = n.get("op", "a collective")
    t = f" after {n['timeout_ms'] / 1000:.0f}s" if "timeout_ms" in n else ""
    return f"NCCL {op} timed out{t}" + (f" on ranks {n['ranks']}" if n.get("ranks") else "")


def _nccl_timeout_fixes(n, ctx):
    return ["one rank fell behind or stopped: look for an earlier error on another rank, and for code that only "
            "some ranks run (e.g. `if rank == 0:` around a collective, uneven batches: use drop_last=True with "
            "DistributedSampler)",
            "if one step is legitimately slow (rank-0 evaluation, checkpointing), raise the timeout: "
            "dist.init_process_group(..., timeout=datetime.timedelta(minutes=60))",
            "rerun with NCCL_DEBUG=INFO and TORCH_NCCL_ASYNC_ERROR_HANDLING=1 to see which rank hangs"]


def _nccl(lines, ctx):
    n = {"kind": _search(r"(nccl[A-Z][A-Za-z]+Error|ncclInvalidUsage|ncclInvalidArgument)", lines),
         "nccl_version": _search(r"NCCL version ([0-9.]+)", lines),
         "detail": _search(r"(?:Last error|last error):\s*(.+)", lines)}
    return {k: v for k, v in n.items() if v}


def _nccl_fixes(n, ctx):
    kind = n.get("kind") or ""
    fixes = []
    if "UnhandledCuda" in kind:
        fixes.append("a CUDA error happened on some rank (often out of memory): look for it in that rank's output")
    if "System" in kind or "Remote" in kind or not kind:
        fixes.append("a network or shared-memory problem between ranks: try NCCL_P2P_DISABLE=1, NCCL_IB_DISABLE=1, "
                     "set NCCL_SOCKET_IFNAME to the right interface, and give containers enough /dev/shm (--shm-size)")
    fixes += ["rerun with NCCL_DEBUG=INFO to get NCCL's own reason",
              "make sure every node uses the same torch/NCCL build"]
    return fixes


# ---------------------------------------------------------------- Python-level
# import name -> the pip package that provides it, for modules whose names differ from their package
PACKAGE_FOR_MODULE = {
    "cv2": "opencv-python", "sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml", "skimage": "scikit-image",
    "bs4": "beautifulsoup4", "dotenv": "python-dotenv", "attr": "attrs", "Crypto": "pycryptodome",
    "google.protobuf": "protobuf", "jwt": "PyJWT", "dateutil": "python-dateutil", "magic": "python-magic",
    "serial": "pyserial", "usb": "pyusb", "zmq": "pyzmq", "MySQLdb": "mysqlclient", "psycopg2": "psycopg2-binary",
    "OpenGL": "PyOpenGL", "Levenshtein": "python-Levenshtein", "sentencepiece": "sentencepiece",
    "tensorboardX": "tensorboardX", "lightning": "lightning", "pytorch_lightning": "pytorch-lightning",
    "hydra": "hydra-core", "omegaconf": "omegaconf", "timm": "timm", "einops": "einops", "accelerate": "accelerate",
    "datasets": "datasets", "transformers": "transformers", "torchvision": "torchvision", "torchaudio": "torchaudio",
    "wandb": "wandb", "tqdm": "tqdm", "pandas": "pandas", "scipy": "scipy", "matplotlib": "matplotlib",
    "numpy": "numpy", "torch": "torch", "tensorflow": "tensorflow", "jax": "jax", "flash_attn": "flash-attn",
    "bitsandbytes": "bitsandbytes", "peft": "peft", "trl": "trl", "deepspeed": "deepspeed", "apex": "apex",
    "faiss": "faiss-cpu", "umap": "umap-learn", "Bio": "biopython", "lxml": "lxml", "gym": "gym",
    "gymnasium": "gymnasium", "mpi4py": "mpi4py", "h5py": "h5py", "tokenizers": "tokenizers",
    "huggingface_hub": "huggingface_hub", "safetensors": "safetensors", "sentence_transformers": "sentence-transformers",
    "nltk": "nltk", "spacy": "spacy", "xgboost": "xgboost", "lightgbm": "lightgbm", "catboost": "catboost",
    "onnx": "onnx", "onnxruntime": "onnxruntime", "pydantic": "pydantic", "rich": "rich", "click": "click",
    "requests": "requests", "seaborn": "seaborn", "plotly": "plotly", "librosa": "librosa", "soundfile": "soundfile",
    "imageio": "imageio", "albumentations": "albumentations", "pytorch3d": "pytorch3d", "open_clip": "open_clip_torch",
    "clip": "git+https://github.com/openai/CLIP.git", "detectron2": "detectron2 (build from source)",
    "mmcv": "mmcv", "wx": "wxPython", "fitz": "PyMuPDF", "docx": "python-docx", "pptx": "python-pptx",
}
_SYSTEM_LIBS = {"libGL.so.1": "apt-get install libgl1 (or pip install opencv-python-headless instead of opencv-python)",
                "libgthread-2.0.so.0": "apt-get install libglib2.0-0",
                "libsndfile.so": "apt-get install libsndfile1"}


def _module(lines, ctx):
    n: Numbers = {}
    mod = _search(r"No module named '([^']+)'", lines)
    if mod:
        n["module"] = mod
        top = mod.split(".")[0]
        pkg = PACKAGE_FOR_MODULE.get(mod) or PACKAGE_FOR_MODULE.get(top)
        if pkg:
            n["package"] = pkg
        elif top == mod or mod.count(".") >= 1:
            n["package_guess"] = top.replace("_", "-")
    name = re.search(r"cannot import name '([^']+)' from '([^']+)'", "\n".join(lines))
    if name:
        n["name"], n["from_module"] = name.group(1), name.group(2)
    lib = _search(r"([A-Za-z0-9_.+-]+\.so[.0-9]*): cannot open shared object file", lines)
    if lib:
        n["shared_library"] = lib
    if ctx.get("python"):
        n["python"] = ctx["python"]
    return n


def _module_summary(n):
    if "module" in n:
        pkg = n.get("package") or n.get("package_guess")
        return f"no module named '{n['module']}'" + (f" (provided by the pip package {pkg})" if pkg else "")
    if "name" in n:
        return f"cannot import {n['name']} from {n['from_module']} (an incompatible version of {n['from_module'].split('.')[0]})"
    if "shared_library" in n:
        return f"a system library is missing: {n['shared_library']}"
    return "an import failed"


def _module_fixes(n, ctx):
    py = n.get("python") or "python"
    fixes = []
    if "module" in n:
        pkg = n.get("package") or n.get("package_guess")
        if pkg:
            fixes.append(f"install it into the interpreter the run used: {py} -m pip install {pkg}")
        if n.get("module", "").split(".")[0] in ("src", "utils", "models", "data", "lib", "common", "config"):
            fixes.append("it looks like your own code: run from the project root, or `pip install -e .`, or set "
                         "PYTHONPATH (relaunch with --env PYTHONPATH=.)")
        fixes.append("check that the run used the environment you meant (see the python line of `expkit runs show`)")
    if "name" in n:
        top = n["from_module"].split(".")[0]
        fixes.append(f"{top} is a different version than the code expects: pin the version the code was written "
                     f"for ({py} -m pip install '{PACKAGE_FOR_MODULE.get(top, top)}==<version>')")
    if "shared_library" in n:
        lib = n["shared_library"]
        fixes.append(next((v for k, v in _SYSTEM_LIBS.items() if lib.startswith(k.split(".so")[0])),
                          f"install the system package that provides {lib} (apt-file search {lib})"))
    return fixes


def _file(lines, ctx):
    path = (_search(r"No such file or directory: '([^']+)'", lines) or _search(r"can't open file '([^']+)'", lines)
            or _search(r"No such file or directory: \"([^\"]+)\"", lines))
    n: Numbers = {}
    if path:
        n["path"] = path
        cwd = ctx.get("cwd")
        if cwd and not path.startswith("/"):
            import os

            full = os.path.join(cwd, path)
            n["resolved"] = full
            n["exists_now"] = os.path.exists(full)
        elif path.startswith("/"):
            import os

            n["exists_now"] = os.path.exists(path)
    return n


def _file_summary(n):
    if "path" not in n:
        return "a file was not found"
    rel = f" (relative to the run's cwd: {n['resolved']})" if "resolved" in n else ""
    now = " — it exists now" if n.get("exists_now") else ""
    return f"file not found: {n['path']}{rel}{now}"


def _file_fixes(n, ctx):
    fixes = []
    if "resolved" in n:
        fixes.append(f"relative paths resolve against the run's working directory ({ctx.get('cwd')}): launch from "
                     "the folder the script expects, or build paths from the script's location "
                     "(Path(__file__).parent / ...)")
    fixes += ["check that the data or checkpoint exists on this machine (downloaded, mounted, not on another node)",
              "pass the path as an argument or config value instead of hard-coding it"]
    return fixes


def _shapes(lines, ctx):
    text = "\n".join(lines)
    n: Numbers = {}
    m = re.search(r"shapes cannot be multiplied \(([0-9]+)x([0-9]+) and ([0-9]+)x([0-9]+)\)", text)
    if m:
        a, b, c, d = map(int, m.groups())
        n.update(shapes=[[a, b], [c, d]], input_features=b, layer_in_features=c)
    m = re.search(r"size of tensor a \(([0-9]+)\) must match the size of tensor b \(([0-9]+)\) at non-singleton "
                  r"dimension ([0-9]+)", text)
    if m:
        n.update(sizes=[int(m.group(1)), int(m.group(2))], dim=int(m.group(3)))
    m = re.search(r"size mismatch for ([\w.]+): copying a param with shape torch\.Size\(\[([0-9, ]*)\]\) from "
                  r"checkpoint, the shape in current model is torch\.Size\(\[([0-9, ]*)\]\)", text)
    if m:
        n.update(parameter=m.group(1), checkpoint_shape=_ints(m.group(2)), model_shape=_ints(m.group(3)))
    m = re.search(r"Expected input batch_size \(([0-9]+)\) to match target batch_size \(([0-9]+)\)", text)
    if m:
        n.update(input_batch=int(m.group(1)), target_batch=int(m.group(2)))
    m = re.search(r"shape '\[([0-9, -]+)\]' is invalid for input of size ([0-9]+)", text)
    if m:
        n.update(view_shape=_ints(m.group(1)), input_size=int(m.group(2)))
    m = re.search(r"expected input\[([0-9, ]+)\] to have ([0-9]+) channels, but got ([0-9]+) channels", text)
    if m:
        n.update(input_shape=_ints(m.group(1)), expected_channels=int(m.group(2)), got_channels=int(m.group(3)))
    m = re.search(r"could not be broadcast together with shapes (\([0-9, ]*\)) ?(\([0-9, ]*\))", text)
    if m:
        n.update(shapes=[m.group(1), m.group(2)])
    return n


def _ints(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"-?[0-9]+", text)]


def _shapes_summary(n):
    if "layer_in_features" in n:
        return (f"matmul shapes {n['shapes'][0][0]}x{n['shapes'][0][1]} @ {n['shapes'][1][0]}x{n['shapes'][1][1]}: "
                f"the input has {n['input_features']} features, the layer expects {n['layer_in_features']}")
    if "parameter" in n:
        return (f"checkpoint parameter {n['parameter']} has shape {n['checkpoint_shape']}, "
                f"the model has {n['model_shape']}")
    if "sizes" in n:
        return f"tensor sizes {n['sizes'][0]} and {n['sizes'][1]} differ at dimension {n['dim']}"
    if "input_batch" in n:
        return f"input batch {n['input_batch']} != target batch {n['target_batch']}"
    if "expected_channels" in n:
        return f"input has {n['got_channels']} channels, the layer expects {n['expected_channels']}"
    if "view_shape" in n:
        return f"cannot view {n['input_size']} elements as {n['view_shape']}"
    return "tensor shapes do not match"


def _shapes_fixes(n, ctx):
    if "layer_in_features" in n:
        return [f"the layer was built for {n['layer_in_features']} input features but receives {n['input_features']}: "
                f"set in_features={n['input_features']} (or use nn.LazyLinear), or check the flatten/reshape before it"]
    if "parameter" in n:
        return ["the checkpoint was trained with a different config (e.g. number of classes or vocabulary): use the "
                "matching config, or load with strict=False and re-initialise the mismatched head"]
    if "input_batch" in n:
        return ["inputs and targets are misaligned: check the reshape of logits/labels (e.g. logits.view(-1, C) "
                "with labels.view(-1)) and the collate function"]
    return ["print the shapes just before the failing line (the user frame below) and fix the reshape, "
            "transpose or config value that makes them disagree"]


def _disk(lines, ctx):
    n: Numbers = {}
    path = _search(r"No space left on device: '([^']+)'", lines) or _search(r"Disk quota exceeded: '([^']+)'", lines)
    if path:
        n["path"] = path
    n["kind"] = "quota" if any("quota" in line for line in lines) else "disk_full"
    for label, folder in (("run_dir", ctx.get("run_dir")), ("cwd", ctx.get("cwd"))):
        if folder:
            import shutil

            try:
                n[f"free_now_gib_{label}"] = round(shutil.disk_usage(folder).free / 2**30, 2)
            except OSError:
                pass
    return n


def _disk_summary(n):
    free = n.get("free_now_gib_cwd", n.get("free_now_gib_run_dir"))
    what = "disk quota exceeded" if n.get("kind") == "quota" else "no space left on device"
    return what + (f" writing {n['path']}" if "path" in n else "") + (
        f" ({free} GiB free there now)" if free is not None else "")


def _disk_fixes(n, ctx):
    return ["free space: old checkpoints (keep only the last and the best: save_total_limit=2 / "
            "ModelCheckpoint(save_top_k=1)), caches (~/.cache/huggingface, ~/.cache/pip, wandb artifacts)",
            "point large outputs and caches at a bigger disk: HF_HOME, TORCH_HOME, WANDB_DIR, TMPDIR, the checkpoint dir",
            "check with `df -h` and `du -sh * | sort -h` where the space went"]


# ---------------------------------------------------------------- scheduler, signals, crashes
def _slurm(lines, ctx):
    n = {"job_id": _search(r"JOB ([0-9]+)", lines), "node": _search(r"JOB [0-9]+ ON (\S+)", lines),
         "at": _search(r"CANCELLED AT (\S+)", lines)}
    n = {k: v for k, v in n.items() if v}
    if ctx.get("duration_s"):
        n["ran_for_s"] = round(ctx["duration_s"])
    return n


def _time_limit_fixes(n, ctx):
    return ["request more time (#SBATCH --time=...) or do less per job",
            "save checkpoints periodically and resume from the last one; ask Slurm for a warning signal before the "
            "kill (#SBATCH --signal=B:USR1@300) and checkpoint when it arrives",
            "resubmit with --requeue so the job continues from its checkpoint"]


def _preempt_fixes(n, ctx):
    return ["resume from the last checkpoint (save them often enough to lose little work)",
            "submit with --requeue, or use a partition/QOS that is not preemptible"]


def _host_oom(lines, ctx):
    n: Numbers = {}
    rss = _search(r"anon-rss:([0-9]+)kB", lines)
    if rss:
        n["anon_rss_gib"] = round(int(rss) / 2**20, 2)
    events = _search(r"Detected ([0-9]+) oom[_-]kill event", lines)
    if events:
        n["oom_kill_events"] = int(events)
    n.update(ctx.get("resource_numbers") or {})
    return n


def _host_oom_summary(n):
    peak = f"; peak RSS {n['peak_rss_gib']} GiB" if "peak_rss_gib" in n else ""
    host = f" of {n['host_memory_gib']} GiB" if "host_memory_gib" in n else ""
    rss = f" (anon-rss {n['anon_rss_gib']} GiB)" if "anon_rss_gib" in n else ""
    return f"killed for using too much host memory (RAM){rss}{peak}{host}"


def _host_oom_fixes(n, ctx):
    return ["use fewer DataLoader workers and a smaller prefetch_factor; each worker holds its own copy of what the "
            "Dataset keeps in Python objects",
            "do not load the whole dataset into RAM: memory-map it (np.load(mmap_mode='r'), datasets "
            "keep_in_memory=False) or stream it",
            "load checkpoints and models lazily: torch.load(..., mmap=True, map_location='cpu'), "
            "from_pretrained(..., low_cpu_mem_usage=True)",
            "ask for more memory (#SBATCH --mem=..., a bigger container limit); resources.jsonl in the run dir "
            "shows how RSS grew"]


def _dataloader(lines, ctx):
    n = {"worker_pid": _search(r"DataLoader worker \(pid\(?s?\)? ?([0-9]+)", lines),
         "signal": _search(r"killed by signal: ([A-Za-z ]+)", lines)}
    n = {k: v.strip() for k, v in n.items() if v}
    if any("shared memory" in line or "bus error" in line.lower() for line in lines):
        n["shared_memory"] = True
    return n


def _dataloader_summary(n):
    if n.get("shared_memory"):
        return "a DataLoader worker ran out of shared memory (/dev/shm)"
    sig = n.get("signal")
    return "a DataLoader worker died" + (f" (killed by signal: {sig})" if sig else "")


def _dataloader_fixes(n, ctx):
    fixes = ["rerun with num_workers=0: the worker's real exception then appears in the main process"]
    if n.get("signal", "").startswith("Killed"):
        fixes.insert(0, "the kernel killed a worker, almost always for host memory: fewer workers, a smaller "
                        "prefetch_factor, and no large Python lists/dicts in the Dataset")
    if n.get("shared_memory"):
        fixes.insert(0, "give the container more shared memory (docker run --shm-size=8g), or "
                        "torch.multiprocessing.set_sharing_strategy('file_system')")
    if n.get("signal", "").startswith("Segmentation"):
        fixes.append("a C extension crashed in the worker (cv2: call cv2.setNumThreads(0); check image decoding)")
    return fixes


def _segv(lines, ctx):
    n: Numbers = {}
    if ctx.get("signal_name"):
        n["signal"] = ctx["signal_name"]
    frame = _search(r'File "([^"]+)", line ([0-9]+)', lines, group=0)
    if frame:
        n["python_frame"] = frame
    if any("compiled using NumPy 1.x" in line for line in lines):
        n["numpy_abi"] = True
    return n


def _segv_fixes(n, ctx):
    fixes = []
    if n.get("numpy_abi"):
        fixes.append("a package was compiled for NumPy 1.x: pip install 'numpy<2' or upgrade that package")
    fixes += ["rerun with PYTHONFAULTHANDLER=1 (relaunch with --env PYTHONFAULTHANDLER=1) to get the Python stack "
              "of the crash",
              "a native extension crashed: reinstall binary packages built for this torch/numpy version "
              "(torch, torchvision, custom CUDA extensions, flash-attn)",
              "rule out the data pipeline with DataLoader num_workers=0",
              "'Bus error' inside containers usually means /dev/shm is too small (--shm-size)"]
    return fixes


def _wandb(lines, ctx):
    text = "\n".join(lines)
    if re.search(r"api_key not configured|not logged in|401|[Uu]nauthorized|Invalid API key|permission denied", text):
        kind = "auth"
    elif re.search(r"[Nn]etwork|ConnectionError|timed out|Timeout|CommError|resolve|SSL", text):
        kind = "network"
    else:
        kind = "other"
    return {"kind": kind}


def _wandb_summary(n):
    return {"auth": "W&B is not logged in (no API key for this process)",
            "network": "W&B could not reach its server"}.get(n.get("kind"), "W&B reported an error")


def _wandb_fixes(n, ctx):
    offline = ("log offline and upload later: relaunch with --env WANDB_MODE=offline, then "
               "`wandb sync <run dir>/wandb/offline-run-*`")
    if n.get("kind") == "auth":
        return ["run `wandb login` once on this machine, or export WANDB_API_KEY in the environment the run gets "
                "(never write the key into code or config)", offline]
    return [offline, "on a slow network raise the init timeout (WANDB_INIT_TIMEOUT=300); behind a proxy set "
            "HTTPS_PROXY", "W&B errors can be kept from stopping training: wandb.init(..., settings="
            "wandb.Settings(init_timeout=300)) or WANDB_MODE=disabled when tracking is not needed"]


def _hf(lines, ctx):
    text = "\n".join(lines)
    n: Numbers = {}
    repo = (_search(r"it looks like (\S+) is not the path", lines)
            or _search(r"(\S+) is not a local folder and is not a valid model identifier", lines)
            or _search(r"huggingface\.co/([\w.-]+/[\w.-]+)/resolve", lines)
            or _search(r"[Rr]epo(?:sitory)? (?:id )?['\"]?([\w.-]+/[\w.-]+)", lines))
    if repo:
        n["repo"] = repo.strip("'\"`")
    f = _search(r"file named (\S+?)\.?$", lines) or _search(r"/resolve/[^/]+/(\S+?)[ )'\"]", lines)
    if f:
        n["file"] = f
    if re.search(r"[Gg]ated|401|Cannot access gated repo|[Uu]nauthorized", text):
        n["kind"] = "gated"
    elif re.search(r"not a valid model identifier|RepositoryNotFound|404", text):
        n["kind"] = "not_found"
    else:
        n["kind"] = "offline"
    return n


def _hf_summary(n):
    repo = f" {n['repo']}" if "repo" in n else ""
    return {"gated": f"the Hugging Face repo{repo} is gated or needs a token",
            "not_found": f"the Hugging Face repo{repo} does not exist (or is private)"}.get(
        n.get("kind"), f"could not download{repo} from the Hugging Face Hub and it is not in the local cache")


def _hf_fixes(n, ctx):
    repo = n.get("repo", "<repo>")
    if n.get("kind") == "gated":
        return [f"accept the licence on https://huggingface.co/{repo} and give the run a token "
                "(`huggingface-cli login`, or HF_TOKEN in its environment)"]
    if n.get("kind") == "not_found":
        return [f"check the spelling of '{repo}' on https://huggingface.co, or pass a local folder"]
    return [f"download it where there is network: `huggingface-cli download {repo}` (into the same HF_HOME)",
            "then run with HF_HUB_OFFLINE=1 (relaunch with --env HF_HUB_OFFLINE=1) so only the cache is used",
            "on clusters, point HF_HOME at a shared cache that compute nodes can read"]


def _keyboard(lines, ctx):
    return {}


def _sigterm(lines, ctx):
    n: Numbers = {}
    if ctx.get("stopped_by_request"):
        n["stopped_by_request"] = True
    return n


def _sigterm_summary(n):
    if n.get("stopped_by_request"):
        return "stopped on request (expkit runs stop)"
    return "terminated by SIGTERM from outside the run (scheduler, preemption, or someone ran kill)"


def _sigterm_fixes(n, ctx):
    if n.get("stopped_by_request"):
        return []
    return ["handle SIGTERM in the training loop to save a checkpoint before exiting",
            "check the scheduler's reason (sacct -j <job> -o State,Reason; kubectl describe pod)"]


def _traceback(lines, ctx):
    return dict(ctx.get("traceback") or {})


def _traceback_summary(n):
    exc = n.get("exception_type", "an exception")
    msg = f": {n['message']}" if n.get("message") else ""
    where = f" at {n['user_frame']['file']}:{n['user_frame']['line']}" if n.get("user_frame") else ""
    return f"{exc}{msg}{where}"[:400]


# known exception messages -> the fix (references/common-errors.md explains them)
KNOWN_EXCEPTIONS: list[tuple[str, str]] = [
    (r"Can't call numpy\(\) on Tensor that requires grad",
     "call .detach() before .numpy(): tensor.detach().cpu().numpy() (or .item() for a scalar)"),
    (r"can't convert cuda:?[0-9]* device type tensor to numpy",
     "move it to the CPU first: tensor.detach().cpu().numpy()"),
    (r"Object of type (float32|float64|int64|int32|ndarray|Tensor|bool_) is not JSON serializable",
     "convert numpy/torch values before json.dump: float(x), int(x), x.item(), arr.tolist()"),
    (r"Expected all tensors to be on the same device",
     "move the model and every input to one device: model.to(device), batch = {k: v.to(device) ...}"),
    (r"does not require grad and does not have a grad_fn",
     "the loss is disconnected from the parameters: no torch.no_grad()/detach() on the forward path, and "
     "parameters with requires_grad=True"),
    (r"Trying to backward through the graph a second time",
     "call backward once per forward, or detach carried state (RNN hidden states) between steps"),
    (r"expected scalar type (Float|Half|BFloat16|Double|Long) but found",
     "cast to one dtype: inputs .float(), labels .long() for cross-entropy, or run under autocast"),
    (r"CUDA error: out of memory", "see the CUDA out-of-memory fixes: smaller batch, bf16, checkpointing"),
    (r"Address already in use",
     "another job uses the same MASTER_PORT: pick a free one (torchrun --master_port 29501)"),
]


def _traceback_fixes(n, ctx):
    text = f"{n.get('exception_type', '')}: {n.get('message', '')}"
    fixes = [fix for rx, fix in KNOWN_EXCEPTIONS if re.search(rx, text)]
    if n.get("user_frame"):
        f = n["user_frame"]
        fixes.append(f"open {f['file']}:{f['line']} (in {f['function']}): the last frame in your own code")
    return fixes or ["read the exception message and the last frame of your own code in the evidence"]


RULES: list[Rule] = [
    Rule("cuda_oom", "CUDA out of memory",
         r"CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|RESOURCE_EXHAUSTED: Out of memory|"
         r"OOM when allocating tensor",
         90, 0.95, _cuda_oom, _cuda_oom_summary, _cuda_oom_fixes),
    Rule("nan_loss", "NaN/inf loss",
         r"[Ll]oss[A-Za-z_/]*['\"]?\)? *[:=] *[-+]?(nan|NaN|NAN|inf|Inf)([^A-Za-z]|$)|[Ll]oss is (nan|NaN|inf)|"
         r"returned nan values|Detected nan and/or inf|returned in .training_step. is (nan|inf)|non-finite loss",
         70, 0.9, _nan, _nan_summary, _nan_fixes, first=True,
         # `best_loss=inf` before the first evaluation and fp16 loss-scale messages are normal
         exclude=r"(?i)(best|min|lowest)[\w/ ]*loss['\"]?\)? *[:=] *inf|loss[_ ]?scal"),
    Rule("cuda_device_assert", "CUDA device-side assert",
         r"device-side assert triggered|block: \[[0-9,]+\], thread: \[[0-9,]+\] Assertion",
         92, 0.95, _device_assert, lambda n: "a CUDA kernel assertion failed"
         + (f": {n['assertion']}" if n.get("assertion") else ""), _device_assert_fixes),
    Rule("cuda_illegal_memory", "CUDA illegal memory access",
         r"an illegal memory access was encountered|CUDA_ERROR_ILLEGAL_ADDRESS|cudaErrorIllegalAddress",
         85, 0.9, summary=lambda n: "a CUDA kernel accessed memory out of bounds (illegal memory access)",
         fixes=lambda n, ctx: ["rerun with CUDA_LAUNCH_BLOCKING=1 to find the kernel; out-of-range indices are the "
                               "usual cause", "custom CUDA extensions (flash-attn, apex, your own) must be built for "
                               "this torch and GPU: reinstall them", "try without torch.compile / fused kernels to "
                               "isolate it; if it recurs at random places, check the GPU (dmesg Xid errors)"]),
    Rule("cuda_no_kernel", "no CUDA kernel for this GPU",
         r"no kernel image is available for execution|is not compatible with the current PyTorch installation|"
         r"CUDA error: invalid device function",
         88, 0.95, _sm, lambda n: "this PyTorch build has no kernels for the GPU"
         + (f" ({n.get('gpu_name', 'GPU')} {n['capability']})" if n.get("capability") else ""), _sm_fixes),
    Rule("cuda_driver", "CUDA driver/runtime mismatch",
         r"driver on your system is too old|CUDA driver version is insufficient for CUDA runtime version|"
         r"Found no NVIDIA driver on your system|Torch not compiled with CUDA enabled|No CUDA GPUs are available",
         80, 0.9, _driver, _driver_summary, _driver_fixes),
    Rule("nccl_timeout", "NCCL timeout",
         r"Watchdog caught collective operation timeout|NCCL communicator was aborted|"
         r"DistStoreError: Timed out|Socket Timeout",
         86, 0.9, _nccl_timeout, _nccl_timeout_summary, _nccl_timeout_fixes),
    Rule("nccl_error", "NCCL error",
         r"NCCL error|ncclInternalError|ncclSystemError|ncclUnhandledCudaError|ncclInvalidUsage|ncclRemoteError",
         80, 0.85, _nccl, lambda n: "NCCL failed" + (f" ({n['kind']})" if n.get("kind") else ""), _nccl_fixes),
    Rule("import_error", "missing module / import error",
         r"ModuleNotFoundError|ImportError: |cannot open shared object file",
         85, 0.95, _module, _module_summary, _module_fixes),
    Rule("file_not_found", "file not found",
         r"FileNotFoundError|No such file or directory: |can't open file '",
         70, 0.9, _file, _file_summary, _file_fixes),
    Rule("shape_mismatch", "tensor shape mismatch",
         r"shapes cannot be multiplied|size mismatch for|must match the size of tensor|Expected input batch_size|"
         r"is invalid for input of size|channels, but got [0-9]+ channels|could not be broadcast together|"
         r"Sizes of tensors must match",
         80, 0.9, _shapes, _shapes_summary, _shapes_fixes),
    Rule("disk_full", "disk full",
         r"No space left on device|Disk quota exceeded|\[Errno 28\]|\[Errno 122\]|"
         r"PytorchStreamWriter failed writing file",
         88, 0.95, _disk, _disk_summary, _disk_fixes),
    Rule("time_limit", "scheduler time limit",
         r"DUE TO TIME LIMIT|time limit exceeded",
         95, 0.95, _slurm, lambda n: "the scheduler stopped the job at its time limit"
         + (f" (job {n['job_id']})" if n.get("job_id") else ""), _time_limit_fixes),
    Rule("preempted", "preempted",
         r"DUE TO PREEMPTION|DUE TO NODE FAILURE|[Jj]ob (was |has been )?preempted",
         95, 0.9, _slurm, lambda n: "the job was preempted (or its node failed)"
         + (f" (job {n['job_id']})" if n.get("job_id") else ""), _preempt_fixes),
    Rule("host_oom", "host out of memory (OOM killer)",
         r"Out of memory: Killed process|invoked oom-killer|oom[-_]kill event|OOM Killed|Memory cgroup out of memory",
         86, 0.95, _host_oom, _host_oom_summary, _host_oom_fixes),
    Rule("dataloader_worker", "DataLoader worker crash",
         r"DataLoader worker|bus error encountered in worker|insufficient shared memory \(shm\)",
         83, 0.9, _dataloader, _dataloader_summary, _dataloader_fixes),
    Rule("segfault", "segmentation fault / native crash",
         r"Segmentation fault|Fatal Python error|SIGSEGV|Bus error|compiled using NumPy 1\.x",
         60, 0.85, _segv, lambda n: "the process crashed in native code"
         + (f" ({n['signal']})" if n.get("signal") else ""), _segv_fixes),
    Rule("wandb", "W&B error",
         r"wandb: ERROR|wandb\.errors|api_key not configured|wandb: Network error|wandb: WARNING .*retry",
         75, 0.85, _wandb, _wandb_summary, _wandb_fixes),
    Rule("hf_hub", "Hugging Face Hub download error",
         r"couldn't connect to 'https://huggingface\.co'|LocalEntryNotFoundError|GatedRepoError|"
         r"RepositoryNotFoundError|is not a valid model identifier|Cannot access gated repo|"
         r"host='huggingface\.co'|outgoing traffic has been disabled",
         85, 0.9, _hf, _hf_summary, _hf_fixes),
    Rule("keyboard_interrupt", "interrupted (Ctrl-C)", r"^KeyboardInterrupt",
         55, 0.9, _keyboard, lambda n: "interrupted with Ctrl-C (KeyboardInterrupt)",
         lambda n, ctx: ["if it was not meant: launch detached with `expkit launch` so closing the terminal does not "
                         "stop the run"], severity="info"),
    Rule("sigterm", "terminated (SIGTERM)",
         r"Signals\.SIGTERM|received signal SIGTERM|Received SIGTERM|SIGTERM received|death signal|^Terminated$",
         50, 0.8, _sigterm, _sigterm_summary, _sigterm_fixes),
    Rule("python_traceback", "Python exception", r"Traceback \(most recent call last\)",
         10, 0.8, _traceback, _traceback_summary, _traceback_fixes),
]

BY_ID = {r.id: r for r in RULES}


def combined_pattern() -> str:
    """All rule patterns as one alternation: what grep -E runs over the whole log."""
    return "|".join(f"({r.pattern})" for r in RULES)
