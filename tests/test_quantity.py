"""Every Kubernetes quantity form, parsed to exact integers and written back in the file's idiom."""

import pytest

from gitbot.quantity import (
    GI,
    MI,
    QuantityError,
    format_cpu,
    format_memory,
    human_cpu,
    human_memory,
    memory_unit_family,
    parse_cpu_m,
    parse_memory_bytes,
    round_up,
)


@pytest.mark.parametrize(
    ("text", "millicores"),
    [
        ("250m", 250),
        ("1", 1000),
        ("2", 2000),
        ("0.5", 500),
        (".5", 500),
        ("1.", 1000),
        ("0.1", 100),
        ("0.0001", 1),  # below 1m rounds up, like the API server
        ("1500m", 1500),
        ("100000u", 100),
        ("500000000n", 500),
        ("1e-1", 100),
        ("2E0", 2000),
        ("1k", 1_000_000),
        ("+1", 1000),
        (" 250m ", 250),
        ("0", 0),
        ("0m", 0),
        (1, 1000),
        (0.25, 250),
        (3, 3000),
    ],
)
def test_parse_cpu(text, millicores):
    assert parse_cpu_m(text) == millicores


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512Mi", 512 * MI),
        ("1Gi", GI),
        ("1.5Gi", 3 * GI // 2),
        ("64Ki", 65536),
        ("1Ti", 2**40),
        ("1Pi", 2**50),
        ("1Ei", 2**60),
        ("128974848", 128974848),
        ("129e6", 129_000_000),
        ("129E6", 129_000_000),
        ("1e3", 1000),
        ("123M", 123_000_000),
        ("1G", 10**9),
        ("1k", 1000),
        ("1.5k", 1500),
        ("1T", 10**12),
        ("1P", 10**15),
        ("1E", 10**18),
        ("0.1Ki", 103),  # 102.4 rounds up
        ("500m", 1),  # half a byte rounds up
        (268435456, 256 * MI),
        (1e3, 1000),
    ],
)
def test_parse_memory(text, size):
    assert parse_memory_bytes(text) == size


@pytest.mark.parametrize(
    "text",
    ["", "abc", "1Mb", "1 Gi", "Gi", "1e", "1.2.3", "--1", "nan", "NaN", "inf", "1KiB", "0x10", "1e99", "-1", "-250m", "1e30", "1e3m", True, None, [1]],
)
def test_invalid_quantities(text):
    with pytest.raises(QuantityError):
        parse_memory_bytes(text)


def test_absurd_cpu_is_rejected_with_the_text():
    with pytest.raises(QuantityError, match="out of range: '1e20'"):
        parse_cpu_m("1e20")
    with pytest.raises(QuantityError, match="negative CPU: '-1'"):
        parse_cpu_m("-1")


@pytest.mark.parametrize(
    ("millicores", "like", "text"),
    [
        (250, None, "250m"),
        (1000, None, "1"),
        (1500, None, "1500m"),
        (250, "500m", "250m"),
        (1000, "500m", "1000m"),
        (250, "0.5", "0.25"),
        (1000, "0.5", "1"),
        (1250, "1.5", "1.25"),
        (250, "1", "250m"),
        (2000, "1", "2"),
        (300, "garbage", "300m"),
    ],
)
def test_format_cpu(millicores, like, text):
    assert format_cpu(millicores, like) == text
    assert parse_cpu_m(text) == millicores


@pytest.mark.parametrize(
    ("size", "like", "text"),
    [
        (512 * MI, None, "512Mi"),
        (2 * GI, None, "2Gi"),
        (1536 * MI, None, "1536Mi"),
        (1000, None, "1000"),
        (2 * GI, "512Mi", "2048Mi"),  # keep the file's suffix when whole
        (1536 * MI, "1Gi", "1536Mi"),  # not whole Gi: the largest suffix that is
        (3 * GI, "1Gi", "3Gi"),
        (300 * 10**6, "128M", "300M"),
        (2 * 10**9, "500M", "2000M"),
        (3 * 10**9, "1G", "3G"),
        (1_500_000_000, "1G", "1500M"),
        (129_000_000, "64e6", "129e6"),
        (123_456_789, "64e6", "123456789"),
        (268435456, "134217728", "268435456"),
        (512 * MI, "1.5Gi", "512Mi"),
    ],
)
def test_format_memory(size, like, text):
    assert format_memory(size, like) == text
    assert parse_memory_bytes(text) == size


@pytest.mark.parametrize(("like", "family"), [("512Mi", "binary"), ("1G", "si"), ("129e6", "si"), ("1000", "binary"), (None, "binary"), ("x", "binary")])
def test_memory_unit_family(like, family):
    assert memory_unit_family(like) == family


def test_round_up():
    assert round_up(251, 5) == 255
    assert round_up(255, 5) == 255
    assert round_up(1, MI) == MI
    assert round_up(0, 50) == 0
    with pytest.raises(ValueError):
        round_up(1, 0)


@pytest.mark.parametrize(("value", "text"), [(250, "250m"), (2000, "2"), (1500, "1500m"), (0, "0m")])
def test_human_cpu(value, text):
    assert human_cpu(value) == text


@pytest.mark.parametrize(("value", "text"), [(512 * MI, "512Mi"), (3 * GI // 2, "1.5Gi"), (2 * GI, "2Gi"), (1000, "1000B"), (0, "0"), (1025 * 1024 * 1024 + 5, "1Gi")])
def test_human_memory(value, text):
    assert human_memory(value) == text
