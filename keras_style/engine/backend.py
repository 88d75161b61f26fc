"""The one backend boundary: importing TensorFlow (quietly), the device it computes on, the precision and XLA chosen
for it, and the compiled steps (a bounded cache, shared by every Evaluator of a process).

This is the only engine module that does not import TensorFlow at its top: the command line imports it to load
TensorFlow with stderr closed, after every input problem has been reported.

The precision/XLA rule comes from measurements (benchmarks/RESULTS.md, "Precision and XLA per device"):
- bfloat16 pays where the device has bf16 units: a GPU of compute capability 8.0 or newer (Ampere, Hopper), or a
  CPU with AMX or AVX512-BF16, where TensorFlow's oneDNN convolutions ran 10-15x faster than in float32;
- XLA's CPU compiler does not use those bf16 units (bfloat16 with XLA was 12x slower per evaluation than without),
  so bfloat16 on a CPU runs without XLA;
- in float32 on a CPU, XLA saves a share of each evaluation but costs a compilation up front: it is worth it only
  when the budget of evaluations is large enough to pay that back;
- on a GPU, XLA is on (every measured pair was faster with it).
Losses and Gram matrices stay float32 whatever the network computes in.

TensorFlow is the backend the package installs and tests. Keras's JAX backend (KERAS_BACKEND=jax) is supported
here too, for the GPU machines where only JAX exists (benchmarks/RESULTS.md, "GPU"): the compiled steps become
jax.jit + jax.value_and_grad.
"""
from __future__ import annotations

import functools
import importlib
import os
import sys
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
BF16_GPU_CAPABILITY = (8, 0)
# float32 XLA on a CPU: the share of each evaluation it saves (9-22 % on the AMD EPYC, RESULTS.md; the low end, so
# the rule errs towards not compiling) and its compile time, in evaluations without XLA at the reference size
# (measured: RESULTS.md). XLA pays when budget * saving * (pixels / reference) > compile cost.
XLA_CPU_SAVING = 0.10
XLA_CPU_COMPILE_EVALUATIONS = 20.0
XLA_REFERENCE_PIXELS = 128 * 96


@dataclass(frozen=True)
class Device:
    """What the rule looks at: the device type, its name, the CPU's flags and a GPU's compute capability."""

    kind: str  # "cpu" or "gpu"
    name: str = ""
    cpu_flags: frozenset[str] = frozenset()
    gpu_capability: tuple[int, int] | None = None
    # TensorFlow's oneDNN kernels, which are what use a CPU's bfloat16 units; without them (TF_ENABLE_ONEDNN_OPTS=0,
    # or a build without oneDNN) bfloat16 runs emulated, slower than float32
    onednn: bool = True

    @property
    def has_bf16(self) -> bool:
        if self.kind == "gpu":
            return self.gpu_capability is not None and tuple(self.gpu_capability) >= BF16_GPU_CAPABILITY
        return self.onednn and any(flag in self.cpu_flags for flag in BF16_CPU_FLAGS)


@dataclass(frozen=True)
class Compute:
    """The choice a run makes, and why (recorded in the sidecar)."""

    precision: str  # "float32" or "mixed" (bfloat16 network, float32 losses)
    xla: bool
    reason: str

    def as_dict(self) -> dict:
        return {"precision": self.precision, "xla": self.xla, "reason": self.reason}


def read_cpu(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, frozenset[str]]:
    """The CPU's model name and flags (empty where /proc/cpuinfo does not exist)."""
    name, flags = "", frozenset()
    try:
        with open(cpuinfo) as stream:
            for line in stream:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not name:
                    name = value.strip()
                elif key == "flags" and not flags:
                    flags = frozenset(value.split())
                if name and flags:
                    break
    except OSError:
        pass
    return name, flags


@functools.lru_cache(maxsize=1)
def detect_device() -> Device:
    """The device Keras will compute on. Imports the backend (call it once the network is about to be built)."""
    import_backend()
    gpu = _jax_gpu() if on_jax() else _tensorflow_gpu()
    if gpu is not None:
        return gpu
    name, flags = read_cpu()
    return Device("cpu", name, cpu_flags=flags, onednn=onednn_enabled())


def _tensorflow_gpu() -> Device | None:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    return Device("gpu", details.get("device_name", "gpu"), gpu_capability=details.get("compute_capability"))


def _jax_gpu() -> Device | None:
    import jax

    gpus = [device for device in jax.devices() if device.platform == "gpu"]
    if not gpus:
        return None
    capability = getattr(gpus[0], "compute_capability", None)
    parsed = tuple(int(part) for part in str(capability).split(".")[:2]) if capability else None
    return Device("gpu", getattr(gpus[0], "device_kind", "gpu"), gpu_capability=parsed)


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN kernels. Its x86 builds have them on by default since 2.9 (the bfloat16
    flags are x86's), unless TF_ENABLE_ONEDNN_OPTS=0 turns them off; TensorFlow offers no public way to ask a build
    (IsMklEnabled answers for the old MKL builds only), so a custom build without oneDNN is not recognised."""
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip() != "0"


def xla_pays_on_cpu(pixels: int, evaluations: int) -> bool:
    """float32 on a CPU: does the time XLA saves over the budget exceed its compile time?"""
    return evaluations * XLA_CPU_SAVING * pixels / XLA_REFERENCE_PIXELS > XLA_CPU_COMPILE_EVALUATIONS


def choose_compute(
    device: Device, precision: str = "auto", xla: bool | None = None, pixels: int = 0, evaluations: int = 1
) -> Compute:
    """Precision and XLA for a run of `evaluations` at `pixels` output pixels; explicit settings win."""
    reasons = []
    if precision == "auto":
        precision = "mixed" if device.has_bf16 else "float32"
        if device.kind == "gpu":
            capability = ".".join(map(str, device.gpu_capability)) if device.gpu_capability else "unknown"
            unit = "has" if device.has_bf16 else "lacks"
            reasons.append(f"auto precision: GPU (compute capability {capability}) {unit} bfloat16 units")
        else:
            found = [flag for flag in BF16_CPU_FLAGS if flag in device.cpu_flags]
            units = " and ".join(found) if found else "no bfloat16 units"
            reasons.append(f"auto precision: CPU has {units}")
            if found and not device.onednn:
                reasons.append("float32: TensorFlow's oneDNN is off (TF_ENABLE_ONEDNN_OPTS=0), so bfloat16 would run "
                               "emulated")
    else:
        reasons.append(f"precision {precision} as asked")
    if xla is None:
        if device.kind == "gpu":
            xla = True
            reasons.append("XLA on: the GPU is faster with it")
        elif precision == "mixed":
            xla = False
            reasons.append("XLA off: XLA's CPU compiler does not use the bfloat16 units")
        else:
            xla = xla_pays_on_cpu(pixels, evaluations)
            verdict = "pays" if xla else "would not pay"
            reasons.append(f"XLA {'on' if xla else 'off'}: its compile time {verdict} back over {evaluations} "
                           f"evaluations at {pixels} px")
    else:
        reasons.append(f"XLA {'on' if xla else 'off'} as asked")
    return Compute(precision, bool(xla), "; ".join(reasons))


def resolved_precision(precision: str) -> str:
    """'auto' becomes this device's choice; 'float32' and 'mixed' stay."""
    return precision if precision != "auto" else choose_compute(detect_device(), precision).precision


def device_type() -> str:
    """'gpu' when TensorFlow sees an accelerator, else 'cpu'."""
    return detect_device().kind


def mixed_policy() -> str:
    """16-bit compute with float32 variables. bfloat16, not float16: the raw style gradients (up to ~1e9 per
    pixel) overflow float16's range, while bfloat16 keeps float32's exponent (tensor cores and AMX take it)."""
    return "mixed_bfloat16"


_backend_import_seconds: float | None = None


def import_backend() -> float:
    """Import Keras and TensorFlow; the seconds the first import took in this process."""
    global _backend_import_seconds
    if _backend_import_seconds is None:
        started = time.perf_counter()
        importlib.import_module("keras")
        _backend_import_seconds = time.perf_counter() - started
    return _backend_import_seconds


def on_jax() -> bool:
    """Whether Keras runs on its JAX backend (KERAS_BACKEND=jax) rather than TensorFlow."""
    import keras

    return keras.backend.backend() == "jax"


def import_backend_quietly() -> None:
    """Load TensorFlow with stderr closed: on CPUs where oneDNN's custom operations are on it writes log lines to
    stderr before its log level applies, which would break the one-line messages the apps promise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import_backend()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def set_threads(threads: int) -> int:
    """TensorFlow's intra- and inter-op thread pools; where TensorFlow already runs them (they cannot change any
    more), the intra-op threads in force (0: TensorFlow's default)."""
    import_backend()
    if on_jax():
        return 0  # XLA's own thread pool
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # "cannot be modified after initialization"
        return tf.config.threading.get_intra_op_parallelism_threads()
    return threads


# Traces per compiled step's name ("value_and_grad", "features", "lbfgs", ...) over the whole process: the record that
# tests and diagnostics read (a CompiledFunction evicted from the cache keeps its count here).
TRACE_COUNTS: Counter[str] = Counter()


class _Traced:
    """The Python function a CompiledFunction hands to tf.function: counts its traces, then calls the step.

    An object per compiled step and shape rather than one closure for all: TensorFlow's frequent-retracing warning
    keeps its statistics per key, the traced function's __code__ (which every closure of one definition shares) or,
    for a callable without __code__, the callable itself (polymorphic_function.py, _get_key_for_call_stats). With a
    shared key every step's first trace at each scale counted as retracing of one function."""

    def __init__(self, function: Callable, name: str, counter: CompiledFunction) -> None:
        self.function = function
        self.name = name
        self.counter = counter

    def __call__(self, *args):
        # Python side effect: runs only when TensorFlow traces, not on each call
        self.counter.traces += 1
        TRACE_COUNTS[self.name] += 1
        return self.function(*args)

    def __repr__(self) -> str:
        return f"<compiled step {self.name!r}>"


class CompiledFunction:
    """A tf.function (XLA-compiled or not) with a count of its traces (one per new input shape; one in all with an
    `input_signature` whose dimensions are None, which TensorFlow traces once for every shape it admits).

    Without a signature, each shape of the first argument (the image) gets a tf.function of its own, traced once:
    TensorFlow's frequent-retracing warning counts a function's traces among its last calls (5 of 10), and a step
    traced once per scale, with few calls per scale (a short multi-scale run), is not retracing by mistake."""

    def __init__(self, function: Callable, jit_compile: bool, name: str = "step",
                 input_signature: Sequence[tuple[tuple[int | None, ...], str]] | None = None) -> None:
        self.traces = 0
        self.name = name
        self._function, self._jit_compile = function, jit_compile
        self._by_shape: dict[tuple | None, Callable] = {}
        if on_jax():
            import jax

            self._call = jax.jit(_Traced(function, name, self))  # JAX always compiles with XLA, and traces per shape
            return
        self._call = None
        if input_signature is not None:
            import tensorflow as tf

            signature = [tf.TensorSpec(shape, dtype) for shape, dtype in input_signature]
            self._call = tf.function(_Traced(function, name, self), jit_compile=jit_compile, input_signature=signature)

    def __call__(self, *args):
        if self._call is not None:
            return self._call(*args)
        shape = getattr(args[0], "shape", None) if args else None
        key = None if shape is None else tuple(shape)
        call = self._by_shape.get(key)
        if call is None:
            import tensorflow as tf

            call = self._by_shape[key] = tf.function(_Traced(self._function, self.name, self),
                                                     jit_compile=self._jit_compile)
        return call(*args)


# Compiled steps kept per process, least recently used first out: each holds its traces (one per image shape), and
# a long-lived server or batch worker sees many layer lists and sizes. Enough for a multi-scale run's steps
# (value and gradient, features, an optimiser's step) times its scales, and the judges.
COMPILED_CACHE_SIZE = 32
_COMPILED: OrderedDict[tuple, tuple[Any, CompiledFunction]] = OrderedDict()


def compiled(model: Any, key: tuple, jit_compile: bool, build: Callable[[], Callable],
             input_signature: Sequence[tuple[tuple[int | None, ...], str]] | None = None) -> CompiledFunction:
    """The process-wide compiled function for (model, key, jit_compile), built by `build()` on first use and named
    by key[0]. The model is kept in the entry so its id is never reused while the entry lives."""
    full_key = (id(model), key, bool(jit_compile))
    entry = _COMPILED.get(full_key)
    if entry is None:
        entry = (model, CompiledFunction(build(), jit_compile, str(key[0]), input_signature))
        _COMPILED[full_key] = entry
        while len(_COMPILED) > COMPILED_CACHE_SIZE:
            _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(full_key)
    return entry[1]


def value_and_grad(function: Callable) -> Callable:
    """`function(image, *rest) -> (total, terms)` as an uncompiled `(image, *rest) -> (terms, d total / d image)`,
    for use inside a compiled step."""
    if on_jax():
        import jax

        gradient_of = jax.value_and_grad(lambda image, *rest: function(image, *rest), has_aux=True)

        def jax_value_and_grad(image, *rest):
            (_, terms), gradient = gradient_of(image, *rest)
            return terms, gradient

        return jax_value_and_grad
    import tensorflow as tf

    def with_gradient(image, *rest):
        with tf.GradientTape() as tape:
            tape.watch(image)
            total, terms = function(image, *rest)
        return terms, tape.gradient(total, image)

    return with_gradient


def history_ring(slots: int, shape: tuple[int, ...]):
    """A ring of `slots` float32 images of `shape`, all zero, that a compiled step reads (ring_read) and writes
    (ring_write) one slot at a time without copying the others: under TensorFlow a TensorList, whose items are
    tensors held by reference (a write stores the new tensor, a read hands one back; the m images are never stacked
    or copied), passed to the step and returned by it; under JAX one (slots, *shape) array, updated by the step."""
    if on_jax():
        import jax.numpy as jnp

        return jnp.zeros((slots, *shape), "float32")
    import tensorflow as tf

    ring = tf.raw_ops.TensorListReserve(element_shape=shape, num_elements=slots, element_dtype=tf.float32)
    zeros = tf.zeros(shape, tf.float32)  # one buffer, referenced by every slot until it is written
    for slot in range(slots):
        ring = tf.raw_ops.TensorListSetItem(input_handle=ring, index=slot, item=zeros)
    return ring


def ring_read(ring, slot, shape: tuple[int, ...]):
    """The image in slot `slot` of a history_ring of images of `shape`."""
    if on_jax():
        return ring[slot]
    import tensorflow as tf

    return tf.raw_ops.TensorListGetItem(input_handle=ring, index=slot, element_shape=shape,
                                        element_dtype=tf.float32)


def ring_write(ring, slot, value):
    """The ring with `value` in slot `slot` (the other slots untouched, not copied under TensorFlow)."""
    if on_jax():
        return ring.at[slot].set(value)
    import tensorflow as tf

    return tf.raw_ops.TensorListSetItem(input_handle=ring, index=slot, item=value)
