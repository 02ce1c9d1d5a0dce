"""adamlab's Adam/AdamW against torch.optim.Adam/AdamW, and each implementation against the others."""

from __future__ import annotations

import copy
import functools
import io
import math

import pytest
import torch

from adamlab.optimizers import adam_kernel
from adamlab.optimizers.adam import Adam, AdamW

_NO_KERNEL = adam_kernel.kernel_problem(torch.float32)
#: "fused" demands the kernel: without a C compiler with OpenMP its tests skip, saying why
FUSED = pytest.param("fused", marks=pytest.mark.skipif(
    _NO_KERNEL is not None, reason=f"the fused kernel cannot be built here: {_NO_KERNEL}"
))
IMPLEMENTATIONS = ["plain", "foreach", FUSED]
PAIRS = [(Adam, torch.optim.Adam), (AdamW, torch.optim.AdamW)]
#: tolerances for parameters after 500 steps: float32/float64 rounding over that many steps
RTOL = {torch.float32: 1e-5, torch.float64: 1e-6}
SHAPES = [(), (7,), (3, 4), (2, 3, 5), (17, 9)]
STEPS = 500


class NoisyQuadratic:
    """sum_k 0.5 * h_k * (theta_k - c_k)^2 with seeded gradient noise, over tensors of SHAPES.

    The optimum c has |c| in [1, 2], so the parameters stay away from zero and a relative
    tolerance means what it says; the noise keeps the moments moving for all 500 steps.
    """

    def __init__(self, dtype: torch.dtype, steps: int = STEPS, seed: int = 0, shapes=SHAPES):
        gen = torch.Generator().manual_seed(seed)

        def draw(shape, low, high):
            return (low + (high - low) * torch.rand(shape, generator=gen)).to(dtype)

        sign = [torch.where(torch.rand(s, generator=gen) < 0.5, -1.0, 1.0).to(dtype) for s in shapes]
        self.optimum = [s * draw(shape, 1.0, 2.0) for s, shape in zip(sign, shapes, strict=True)]
        self.curvature = [draw(shape, 0.5, 2.0) for shape in shapes]
        self.start = [c + 0.5 * torch.randn(c.shape, generator=gen).to(dtype) for c in self.optimum]
        self.noise = [
            [0.1 * torch.randn(shape, generator=gen).to(dtype) for shape in shapes]
            for _ in range(steps)
        ]

    def params(self, transposed_last: bool = False) -> list[torch.Tensor]:
        params = [x.clone().requires_grad_() for x in self.start]
        if transposed_last:  # a non-contiguous leaf: the fused path hands it to foreach
            params[-1] = self.start[-1].t().contiguous().t().requires_grad_()
        return params

    def set_grads(self, params, step: int, sign: float = 1.0) -> None:
        for p, c, h, noise in zip(params, self.optimum, self.curvature, self.noise[step], strict=True):
            p.grad = sign * (h * (p.detach() - c) + noise)


def param_groups(params, **second_group):
    """Two groups: the first three tensors with the defaults, the rest with their own values."""
    return [{"params": params[:3]}, {"params": params[3:], **second_group}]


def run(make_optimizer, problem: NoisyQuadratic, *, scheduler=None, maximize=False,
        steps: int = STEPS, transposed_last: bool = False):
    params = problem.params(transposed_last)
    optimizer = make_optimizer(params)
    schedule = scheduler(optimizer) if scheduler else None
    for step in range(steps):
        # maximize: hand the optimizer the gradient of -f, which it climbs: the same descent on f
        problem.set_grads(params, step, sign=-1.0 if maximize else 1.0)
        optimizer.step()
        if schedule:
            schedule.step()
    return [p.detach() for p in params], optimizer


def step_lr(optimizer):
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=100, gamma=0.5)


def one_cycle(optimizer):  # also cycles beta1 (cycle_momentum), so the betas change every step
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[3e-2, 2e-2], total_steps=STEPS)


CONFIGS = {
    "step_lr": dict(hparams=dict(), second_group=dict(lr=5e-3, betas=(0.8, 0.99)), scheduler=step_lr),
    "weight_decay+amsgrad+one_cycle": dict(
        hparams=dict(weight_decay=0.1, amsgrad=True), second_group=dict(weight_decay=0.0, eps=1e-6),
        scheduler=one_cycle,
    ),
    "maximize+weight_decay": dict(
        hparams=dict(weight_decay=0.05, maximize=True), second_group=dict(lr=2e-2), scheduler=step_lr,
    ),
}


@functools.cache
def torch_trajectory(reference, config_name: str, dtype: torch.dtype) -> list[torch.Tensor]:
    """Where torch's optimizer ends on CONFIGS[config_name] (shared by the three implementations)."""
    config = CONFIGS[config_name]
    hparams = config["hparams"]
    params, _ = run(
        lambda ps: reference(param_groups(ps, **config["second_group"]), lr=1e-2, foreach=False, **hparams),
        NoisyQuadratic(dtype), scheduler=config["scheduler"], maximize=hparams.get("maximize", False),
    )
    return params


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("config_name", CONFIGS)
@pytest.mark.parametrize("ours, reference", PAIRS, ids=["Adam", "AdamW"])
def test_matches_torch_over_500_steps(ours, reference, config_name, implementation, dtype):
    problem = NoisyQuadratic(dtype)
    config = CONFIGS[config_name]
    hparams = config["hparams"]
    actual, _ = run(
        lambda ps: ours(param_groups(ps, **config["second_group"]), lr=1e-2,
                        implementation=implementation, **hparams),
        problem, scheduler=config["scheduler"], maximize=hparams.get("maximize", False),
    )
    assert any((a - s).abs().max() > 0.1 for a, s in zip(actual, problem.start, strict=True))
    for a, e in zip(actual, torch_trajectory(reference, config_name, dtype), strict=True):
        torch.testing.assert_close(a, e, rtol=RTOL[dtype], atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("implementation", ["foreach", FUSED])
@pytest.mark.parametrize("bias_correction", [True, False], ids=["corrected", "uncorrected"])
def test_fast_paths_match_the_textbook_path(bias_correction, implementation, dtype):
    problem = NoisyQuadratic(dtype, steps=300)
    hparams = dict(lr=1e-2, weight_decay=0.1, amsgrad=True, bias_correction=bias_correction)
    common = dict(scheduler=one_cycle, steps=300, transposed_last=True)
    plain, _ = run(lambda ps: AdamW(param_groups(ps), implementation="plain", **hparams), problem, **common)
    fast, _ = run(lambda ps: AdamW(param_groups(ps), implementation=implementation, **hparams), problem, **common)
    assert not fast[-1].is_contiguous()  # so the fused run also took its foreach fallback
    for f, p in zip(fast, plain, strict=True):
        torch.testing.assert_close(f, p, rtol=RTOL[dtype], atol=0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_mixed_dtypes_in_one_group_are_each_updated(implementation):
    # float32 and float64 tensors in one group (the fast paths split them by dtype), and an empty one
    wide = torch.full((4,), 1.0, dtype=torch.float64, requires_grad=True)
    narrow = torch.full((3,), 1.0, dtype=torch.float32, requires_grad=True)
    empty = torch.zeros(0, 5, requires_grad=True)
    optimizer = Adam([wide, empty, narrow], lr=0.1, implementation=implementation)
    for p in (wide, narrow, empty):
        p.grad = torch.ones_like(p)
    optimizer.step()
    assert optimizer.state[empty]["step"].item() == 1
    # first step with bias correction: m_hat = g, v_hat = g^2, so theta moves by lr * g/(|g| + eps)
    torch.testing.assert_close(wide.detach(), torch.full((4,), 0.9, dtype=torch.float64))
    torch.testing.assert_close(narrow.detach(), torch.full((3,), 0.9))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_first_step_without_bias_correction_is_lr_times_1_minus_beta1_over_sqrt_1_minus_beta2(
    cls, implementation
):
    lr, beta1, beta2 = 1e-3, 0.9, 0.999
    gen = torch.Generator().manual_seed(1)
    g = torch.where(torch.rand(1000, generator=gen) < 0.5, -1.0, 1.0) * (0.5 + torch.rand(1000, generator=gen))
    theta = torch.zeros(1000, dtype=torch.float64, requires_grad=True)
    optimizer = cls([theta], lr=lr, betas=(beta1, beta2), weight_decay=0.0,
                    bias_correction=False, implementation=implementation)
    theta.grad = g.double()
    optimizer.step()
    # m = (1 - beta1) g and v = (1 - beta2) g^2 without correction; |g| >> eps
    expected = lr * (1 - beta1) / math.sqrt(1 - beta2)
    torch.testing.assert_close(theta.detach().abs(), torch.full_like(theta, expected), rtol=1e-6, atol=0)
    assert torch.equal(theta.detach().sign(), -g.double().sign())
    assert expected == pytest.approx(3.162e-3, rel=1e-3)  # ~3.16 lr: 3x the corrected first step


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_first_step_with_bias_correction_is_lr_per_coordinate(implementation):
    theta = torch.zeros(100, dtype=torch.float64, requires_grad=True)
    optimizer = Adam([theta], lr=1e-3, implementation=implementation)
    theta.grad = torch.linspace(-3, 3, 101, dtype=torch.float64)[torch.arange(101) != 50]
    optimizer.step()
    torch.testing.assert_close(theta.detach().abs(), torch.full_like(theta, 1e-3), rtol=1e-6, atol=0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_eps_is_added_to_sqrt_v_hat_as_in_algorithm_1(implementation):
    # |g| = 1e-7 against eps = 1e-8: the first step is lr * g / (|g| + eps) = lr / 1.1. The
    # "efficient" form lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps) adds eps to
    # the uncorrected sqrt(v) and would give lr * |g| / (|g| + eps / sqrt(1 - beta2)) = lr / 4.16
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = Adam([theta], lr=1e-3, eps=1e-8, implementation=implementation)
    theta.grad = torch.tensor([1e-7, -1e-7, 1e-7], dtype=torch.float64)
    optimizer.step()
    expected = 1e-3 * 1e-7 / (1e-7 + 1e-8)
    torch.testing.assert_close(theta.detach(), torch.tensor([-expected, expected, -expected], dtype=torch.float64),
                               rtol=1e-9, atol=0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_adamw_decays_theta_before_the_update(implementation):
    # theta = 1, g = 1, lr = 0.1, wd = 0.5: (1 - lr * wd) * theta - lr = 0.85; decaying the
    # already-updated theta instead would give (1 - lr) * (1 - lr * wd) = 0.855
    theta = torch.ones(2, dtype=torch.float64, requires_grad=True)
    optimizer = AdamW([theta], lr=0.1, weight_decay=0.5, eps=0.0, implementation=implementation)
    theta.grad = torch.ones(2, dtype=torch.float64)
    optimizer.step()
    torch.testing.assert_close(theta.detach(), torch.full((2,), 0.85, dtype=torch.float64), rtol=1e-12, atol=0)


def train(optimizer, params, steps: int, first: int = 0):
    gen = torch.Generator()
    for step in range(first, first + steps):
        gen.manual_seed(step)
        for p in params:
            p.grad = p.detach() * 0.5 + torch.randn(p.shape, generator=gen, dtype=p.dtype)
        optimizer.step()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_complex_parameters_match_torch(implementation):
    # real and imaginary parts are separate coordinates, as in torch.optim.Adam
    start = torch.randn(4, 3, dtype=torch.complex128, generator=torch.Generator().manual_seed(5))
    ours = start.clone().requires_grad_()
    theirs = start.clone().requires_grad_()
    train(AdamW([ours], lr=1e-2, amsgrad=True, implementation=implementation), [ours], 30)
    train(torch.optim.AdamW([theirs], lr=1e-2, amsgrad=True, foreach=False), [theirs], 30)
    torch.testing.assert_close(ours.detach(), theirs.detach(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_state_dict_round_trip_resumes_bit_identically(cls, implementation):
    params = [torch.randn(s, generator=torch.Generator().manual_seed(3)).requires_grad_() for s in [(5, 4), (6,)]]
    optimizer = cls(params, lr=1e-2, weight_decay=0.1, amsgrad=True, implementation=implementation)
    train(optimizer, params, 20)
    buffer = io.BytesIO()
    torch.save({"params": [p.detach() for p in params], "optimizer": optimizer.state_dict()}, buffer)
    train(optimizer, params, 30, first=20)

    buffer.seek(0)
    saved = torch.load(buffer)
    resumed_params = [p.clone().requires_grad_() for p in saved["params"]]
    resumed = cls(resumed_params, lr=1.0, implementation=implementation)  # lr etc. come from the state
    resumed.load_state_dict(saved["optimizer"])
    train(resumed, resumed_params, 30, first=20)
    for a, b in zip(resumed_params, params, strict=True):
        assert torch.equal(a, b)
    state = resumed.state[resumed_params[0]]
    assert set(state) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert torch.is_tensor(state["step"]) and state["step"].device.type == "cpu"
    assert state["step"].item() == 50


def handed_over(cls, params, optimizer):
    """A copy of `params` with a new `cls` optimizer resuming from `optimizer`'s state_dict."""
    copies = [p.detach().clone().requires_grad_() for p in params]
    successor = cls(copies, lr=1.0)  # lr and the rest come from the state_dict
    # a deep copy: a live state_dict shares its tensors with the optimizer it came from
    successor.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    return copies, successor


@pytest.mark.parametrize("ours, reference", PAIRS, ids=["Adam", "AdamW"])
def test_state_dicts_interchange_with_torch(ours, reference):
    torch_params = [torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(3, 4).requires_grad_()]
    torch_opt = reference(torch_params, lr=1e-2, weight_decay=0.1)
    train(torch_opt, torch_params, 10)

    # torch -> adamlab: continue the run torch started and land where torch does
    our_params, our_opt = handed_over(ours, torch_params, torch_opt)
    train(torch_opt, torch_params, 10, first=10)
    train(our_opt, our_params, 10, first=10)
    torch.testing.assert_close(our_params[0], torch_params[0], rtol=1e-12, atol=0)

    # adamlab -> torch
    back, torch_again = handed_over(reference, our_params, our_opt)
    train(torch_again, back, 10, first=20)
    train(our_opt, our_params, 10, first=20)
    torch.testing.assert_close(back[0], our_params[0], rtol=1e-12, atol=0)
    assert torch_again.state[back[0]]["step"].item() == 30
    assert torch_again.param_groups[0]["weight_decay"] == 0.1


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_state_dict_saved_on_cpu_resumes_on_cuda(implementation):
    params = [torch.randn(8, 3, dtype=torch.float64).requires_grad_()]
    optimizer = AdamW(params, lr=1e-2, amsgrad=True, implementation=implementation)
    train(optimizer, params, 10)
    saved = io.BytesIO()
    torch.save(optimizer.state_dict(), saved)
    cuda_params = [p.detach().cuda().requires_grad_() for p in params]
    train(optimizer, params, 10, first=10)

    saved.seek(0)
    resumed = AdamW(cuda_params, lr=1.0, implementation=implementation)
    resumed.load_state_dict(torch.load(saved))
    state = resumed.state[cuda_params[0]]
    assert state["exp_avg"].is_cuda and state["max_exp_avg_sq"].is_cuda
    gen = torch.Generator()
    for step in range(10, 20):
        gen.manual_seed(step)
        noise = torch.randn(cuda_params[0].shape, generator=gen, dtype=torch.float64).cuda()
        cuda_params[0].grad = cuda_params[0].detach() * 0.5 + noise
        resumed.step()
    torch.testing.assert_close(cuda_params[0].detach().cpu(), params[0].detach(), rtol=1e-6, atol=0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_lr_as_a_tensor_behaves_like_the_float_and_follows_a_scheduler(implementation):
    problem = NoisyQuadratic(torch.float64, steps=50)

    def make(lr):
        return lambda ps: Adam(ps, lr=lr, implementation=implementation)

    with_float, _ = run(make(1e-2), problem, scheduler=step_lr, steps=50)
    with_tensor, optimizer = run(make(torch.tensor(1e-2, dtype=torch.float64)), problem, scheduler=step_lr, steps=50)
    for a, b in zip(with_tensor, with_float, strict=True):
        assert torch.equal(a, b)
    assert torch.is_tensor(optimizer.param_groups[0]["lr"])


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_closure_is_evaluated_with_grad_and_its_loss_returned(implementation):
    theta = torch.tensor([1.0, -2.0], requires_grad=True)
    optimizer = Adam([theta], lr=0.1, implementation=implementation)

    def closure():
        optimizer.zero_grad()
        loss = (theta**2).sum()
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    assert loss.item() == pytest.approx(5.0)
    torch.testing.assert_close(theta.detach(), torch.tensor([0.9, -1.9]))
    optimizer.zero_grad()
    assert theta.grad is None


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_params_without_grad_are_skipped(implementation):
    moving = torch.ones(3, requires_grad=True)
    frozen = torch.ones(3, requires_grad=True)
    optimizer = AdamW([moving, frozen], lr=0.1, implementation=implementation)
    moving.grad = torch.ones(3)
    optimizer.step()
    assert torch.equal(frozen.detach(), torch.ones(3))
    assert frozen not in optimizer.state
    assert optimizer.state[moving]["step"].item() == 1


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_sparse_gradients_are_refused_pointing_at_sparse_adam(cls):
    table = torch.nn.Embedding(10, 3, sparse=True)
    optimizer = cls(table.parameters())
    table(torch.tensor([1, 4])).sum().backward()
    with pytest.raises(RuntimeError, match=f"{cls.__name__} does not support sparse gradients.*SparseAdam"):
        optimizer.step()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lr=-0.1), r"lr must be >= 0, got -0\.1"),
        (dict(lr=float("nan")), r"lr must be finite, got nan"),
        (dict(lr="0.1"), r"lr must be a real number, got '0\.1' \(str\)"),
        (dict(lr=None), r"lr must be a real number, got None \(NoneType\)"),
        (dict(lr=torch.tensor([1e-3, 1e-3])), r"lr given as a tensor must hold one floating-point value"),
        (dict(betas=(1.0, 0.999)), r"beta1 \(betas\[0\]\) must be in \[0, 1\), got 1\.0"),
        (dict(betas=(0.9, -0.1)), r"beta2 \(betas\[1\]\) must be in \[0, 1\), got -0\.1"),
        (dict(betas=(0.9, True)), r"beta2 \(betas\[1\]\) must be a real number, got True \(bool\)"),
        (dict(betas=0.9), r"betas must be a pair \(beta1, beta2\), got 0\.9"),
        (dict(eps=-1e-8), r"eps must be >= 0, got -1e-08"),
        (dict(weight_decay=-0.01), r"weight_decay must be >= 0, got -0\.01"),
        (dict(weight_decay=float("inf")), r"weight_decay must be finite, got inf"),
        (dict(amsgrad="yes"), r"amsgrad must be True or False, got 'yes'"),
        (dict(bias_correction=1), r"bias_correction must be True or False, got 1"),
        (dict(implementation="fast"), r"implementation must be one of 'auto', 'plain', 'foreach', 'fused', got 'fast'"),
    ],
)
@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_bad_hyperparameters_raise_value_errors_naming_them(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls([torch.zeros(2, requires_grad=True)], **kwargs)


def test_edge_values_are_accepted():
    theta = torch.ones(2, requires_grad=True)
    AdamW([theta], lr=0, betas=(0.0, 0.0), eps=0.0, weight_decay=0.0)
    Adam([theta], lr=1, betas=(0, 0.5), eps=1e-8, weight_decay=0)  # ints are numbers too


def test_a_bad_param_group_is_refused_and_leaves_the_optimizer_unchanged():
    optimizer = Adam([torch.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match=r"eps must be >= 0, got -1\.0"):
        optimizer.add_param_group({"params": [torch.zeros(3, requires_grad=True)], "eps": -1.0})
    assert len(optimizer.param_groups) == 1


@pytest.mark.parametrize("compiler", ["no-such-cc", "false"])  # missing; present but failing
def test_without_a_compiler_fused_says_why_and_auto_uses_foreach(monkeypatch, tmp_path, compiler):
    monkeypatch.setenv("CC", str(tmp_path / compiler) if compiler == "no-such-cc" else compiler)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    adam_kernel._load.cache_clear()
    try:
        with pytest.raises(adam_kernel.KernelUnavailable, match="(could not|failed to) build fused_adam_float"):
            AdamW([torch.zeros(2, requires_grad=True)], implementation="fused")
        problem = NoisyQuadratic(torch.float64, steps=20)
        auto, _ = run(lambda ps: AdamW(ps, implementation="auto"), problem, steps=20)
        foreach, _ = run(lambda ps: AdamW(ps, implementation="foreach"), problem, steps=20)
        for a, b in zip(auto, foreach, strict=True):
            assert torch.equal(a, b)
    finally:
        adam_kernel._load.cache_clear()


def test_the_kernel_is_built_once_and_reused(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    adam_kernel._load.cache_clear()
    try:
        if adam_kernel.load_kernel(torch.float32) is None:
            pytest.skip("no C compiler with OpenMP here")
        built = list((tmp_path / "adamlab" / "kernels").glob("fused_adam_float_*.so"))
        assert len(built) == 1
        modified = built[0].stat().st_mtime_ns
        adam_kernel._load.cache_clear()
        assert adam_kernel.load_kernel(torch.float32) is not None
        assert built[0].stat().st_mtime_ns == modified
    finally:
        adam_kernel._load.cache_clear()
