"""components.quantity: Kubernetes quantities as numbers, and a clear error for anything else."""

from __future__ import annotations

import pytest

from components.quantity import cpu_millicores, memory_mib


@pytest.mark.parametrize(("quantity", "millicores"), [("250m", 250), ("0.5", 500), (2, 2000), ("1.5", 1500), (".1", 100), ("0", 0)])
def test_cpu_quantities_in_millicores(quantity, millicores):
    assert cpu_millicores(quantity) == millicores


@pytest.mark.parametrize(("quantity", "mib"), [("128Mi", 128), ("1Gi", 1024), ("512Ki", 0.5), ("1G", 10**9 / 2**20), (1048576, 1), ("1k", 1000 / 2**20)])
def test_memory_quantities_in_mib(quantity, mib):
    assert memory_mib(quantity) == pytest.approx(mib)


@pytest.mark.parametrize("quantity", ["250Mi", "1e3", "-1", "", "m", "2 cores"])
def test_a_bad_cpu_quantity_is_refused_with_an_example(quantity):
    with pytest.raises(ValueError, match=r"not a CPU quantity.*250m or 0\.5"):
        cpu_millicores(quantity)


@pytest.mark.parametrize("quantity", ["128MB", "1K", "1e3", "lots", "128 Mi"])
def test_a_bad_memory_quantity_is_refused_with_an_example(quantity):
    with pytest.raises(ValueError, match=r"not a memory quantity.*128Mi or 1Gi"):
        memory_mib(quantity)
