"""The lockstep engine: K runs of one config with different seeds, trained together, one per
vector lane (issue 18).

Runs of one ladder step differ only in their seed: the same program on other numbers. With one
run per SIMD lane every operation of the per-example algorithm of `train.TorchEngine` becomes one
full-width vector operation - no horizontal sums, no partial vectors, no im2col: lane l holds run
l's weights, its shift and its dropout mask; the digit order is the same for all runs. Each lane
computes what the reference engine computes for its seed, to float32 rounding (the agreement of
tests/test_lockstep.py, as tests/test_fast.py checks the fast engine); docs/lockstep.md has the
design and the measured speed.

Layout: every per-run array has a trailing lane axis of K floats, stored flat - element e of an
array is `a[e*K : (e+1)*K]`, one K-lane vector (lanevec.py). The parameters live in one flat
vector `theta` (9760 elements x K, in PARAM_SHAPES order, each in the model's own shape:
H1w (12, 25), H1b (12, 64), H2w (12, 200), H2b (12, 16), H3w (192, 30), H3b (30), outw (30, 10),
outb (10)), with the gradient, the AdamW moments and the sdlm diagonal beside it in the same
layout, so an optimizer step is one loop. Per example:

    xpad   (20, 20)        the rolled (per lane), padded input
    a1/d1  (12, 64)        H1 pre-activation and derivative
    h1pad  (12, 12, 12)    the activations of H1, padded (border -1)
    a2/h2/d2/h2d (192)     H2 ..., and after the dropout mask
    a3/h3/d3 (30), z/out/dout (10)
    dh1pad (12, 12, 12)    the gradient of the padded H1 maps

The H2 connection table is taken per H1 map: `h2_groups` lists, for each H1 map m, the H2 maps
that read it (with the position of m among their 8 inputs), in groups of up to 4, so one kernel
serves every scheme (anchor, lenet5, random): the forward adds each group's 25-tap partial sums
to a2, the backward computes the weight gradient and the input gradient per group.

Determinism (the rule of this engine): every kernel is compiled without fast-math flags and
every multiply-add chain is written with explicit fused multiply-adds (`lfma`), so LLVM may not
reassociate, contract or approximate anything: each lane performs exactly the IEEE operations
written here, in the order written, whatever K is and whatever the other lanes hold. Elementwise
loops (activations, optimizer steps) are plain loops, which LLVM vectorizes or not as it likes:
without fast-math a loop with no reduction gives the same numbers either way. The group size K
is fixed at compile time (the lane count is in the type of the width tag, lanevec.width_tag), so
no lane is ever in a scalar remainder loop.

Files (the compiled code flows common -> forward, backward -> kernel; the Python side engine ->
group):

    common.py    the layout (parameter and scratch offsets), cpu_lanes, the H2 table per H1 map,
                 the activations on lane vectors (the registry's codes) and the input
    forward.py   one example's forward pass (H1, H2, H3, output, softmax)
    backward.py  one example's backward pass (H2, H1, H3; SGD's step inside)
    kernel.py    the entry point `_kernel` (train a pass, predict, sdlm's diagonal) and AdamW
    engine.py    LockstepEngine and SingleRun: lanes in and out of the kernel
    group.py     run_group: train.run for many seeds, K at a time
    compilation.py  the cache's check against every source the kernels contain (ensure_compiled)
"""

from __future__ import annotations

from ..geometry import h2_table
# the private names: for the tests and benchmarks
from .common import (HEAD_LINEAR, HEAD_SQUASH, LJIT, N_PARAMS, OFFSETS, SAS, _activate, _activate_lanes, _lact,
                     activation_codes, cpu_lanes, h2_groups, table_of)
from .engine import LockstepEngine, SingleRun, _images
from .group import group_lanes, run_group
from .kernel import _kernel

__all__ = ["LockstepEngine", "SingleRun", "run_group", "group_lanes", "cpu_lanes", "h2_groups", "h2_table",
           "activation_codes", "table_of", "HEAD_LINEAR", "HEAD_SQUASH", "LJIT", "N_PARAMS", "OFFSETS", "SAS"]
