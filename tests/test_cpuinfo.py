"""The CPU feature summary benchmarks print and the bf16 decision training makes."""

from trt_gif2video.cpuinfo import cpu_flags, has_native_bf16, isa_summary

AVX2_EPYC = frozenset({"fpu", "sse2", "avx", "avx2", "fma"})
SAPPHIRE = AVX2_EPYC | {"avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8"}


def test_summary_names_the_features_that_change_the_numbers():
    assert isa_summary(AVX2_EPYC) == "AVX2"
    assert isa_summary(SAPPHIRE) == "AVX2, AVX-512, VNNI, BF16, AMX-BF16, AMX-INT8"
    assert isa_summary(frozenset({"sse2"})) == "no AVX2"
    assert isa_summary(frozenset()) == "unknown ISA"


def test_bf16_is_native_only_with_avx512_bf16_or_amx():
    assert not has_native_bf16(AVX2_EPYC)
    assert not has_native_bf16(AVX2_EPYC | {"avx512f", "avx512_vnni"})
    assert has_native_bf16(AVX2_EPYC | {"avx512_bf16"})
    assert has_native_bf16(AVX2_EPYC | {"amx_bf16"})


def test_this_machine_reads_its_own_flags():
    flags = cpu_flags()
    assert isinstance(flags, frozenset)
    assert has_native_bf16() == has_native_bf16(flags)
    assert isa_summary() == isa_summary(flags)
