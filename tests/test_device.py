"""Device choice and mixed precision (CPU-side behaviour; the CUDA path is in test_cuda.py)."""

import pytest
import torch

from medseg.device import autocast, autocast_dtype, describe_device, grad_scaler, module_device, resolve_device
from medseg.ears.config import EarsConfig
from medseg.errors import ConfigError
from medseg.lv.config import LVConfig


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def one_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_auto_takes_the_gpu_only_when_torch_sees_one(no_cuda):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_prefers_a_visible_gpu(one_cuda):
    assert resolve_device("auto").type == "cuda"
    assert resolve_device("CUDA:0") == torch.device("cuda:0")


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_a_missing_gpu_is_a_config_error_naming_it(no_cuda, name):
    with pytest.raises(ConfigError, match=f"'{name}'.*sees no CUDA GPU"):
        resolve_device(name)


def test_a_gpu_index_beyond_the_visible_ones_is_refused(one_cuda):
    with pytest.raises(ConfigError, match="'cuda:3'.*1 CUDA GPU"):
        resolve_device("cuda:3")


@pytest.mark.parametrize("name", ["gpu", "cuda:", "mps", ""])
def test_unknown_device_names_are_refused(name):
    with pytest.raises(ConfigError, match="auto, cpu, cuda or cuda:N"):
        resolve_device(name)


def test_mixed_precision_has_no_effect_on_cpu():
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu, True) is None
    assert not grad_scaler(cpu, True).is_enabled()
    with autocast(cpu, True):
        product = torch.ones(4, 4) @ torch.ones(4, 4)
    assert product.dtype == torch.float32
    assert describe_device(cpu, True) == "cpu"


def test_mixed_precision_type_follows_the_gpu(monkeypatch):
    cuda = torch.device("cuda")
    assert autocast_dtype(cuda, False) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert autocast_dtype(cuda, True) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert autocast_dtype(cuda, True) == torch.float16


def test_module_device():
    assert module_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(torch.nn.ReLU()) == torch.device("cpu")


def test_both_configs_check_the_device_name():
    assert EarsConfig().device == "auto" and LVConfig().device == "auto"
    assert not EarsConfig().mixed_precision and not LVConfig().mixed_precision
    with pytest.raises(ConfigError, match="device"):
        EarsConfig(device="gpu")
    with pytest.raises(ConfigError, match="lv.device"):
        LVConfig.from_config({"lv": {"device": "tpu"}})
    assert LVConfig.from_config({"lv": {"device": "cuda:1"}}).device == "cuda:1"


def test_jobs_wait_passively_only_when_more_cores_are_asked_for_than_there_are():
    from medseg.device import available_cpus, oversubscription_env

    assert available_cpus() >= 1
    assert oversubscription_env(8, cpus=2) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert oversubscription_env(2, cpus=2) == {}
    assert oversubscription_env(8, cpus=16) == {}
    assert oversubscription_env(None, cpus=2) == {}
