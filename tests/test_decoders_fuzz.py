"""Every decoder, fed random registers and random captured memory, returns text
or raises veil.decoders.DecodeError: never anything else, never a crash.

Covered: every flag set and enum set, every struct decoder, every special
argument and result printer, and format_args/format_ret for every syscall of
the table (and for i386/x32 calls and unknown numbers), with random capture
kinds, lengths, faults, truncation and counts in every slot, including the
exit copies (slot + EXIT_SLOT) of FIXED_INOUT.
"""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil import records as R
from veil.decoders import Call, Ctx, DecodeError, capture, format_args, format_ret, load_all, registry
from veil.decoders.signals import siginfo
from veil.syscalls.lookup import SYSCALLS

load_all()   # the registry's tables whole: every family's entries are tried

SC_LIST = list(SYSCALLS)
KINDS = sorted({getattr(R, n) for n in dir(R) if n.startswith("CAP_") and n != "CAP_RESULT"}
               | {capture.KIND_FIXED_INOUT, capture.KIND_MSGHDR_IN, capture.KIND_MSGHDR_OUT,
                  capture.KIND_DEREF_IN, capture.KIND_DEREF_OUT})
SLOTS = list(range(7)) + [i + capture.EXIT_SLOT for i in range(6)]

u64 = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from(
    [0, 1, 2, 3, 4, 0x7F, 0x80, 0xFF, 0x100, 0x1000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
     2**63, 2**64 - 1, 2**64 - 100, 0x7FFD12345678]))
rets = st.one_of(st.none(), st.integers(-4095, -1), st.sampled_from([-512, -513, -514, -515, -516]),
                 st.integers(0, 4096), st.integers(0, 2**63 - 1))


def _data():
    # random bytes, or structured-looking ones (small little-endian words)
    words = st.lists(st.integers(0, 2**32 - 1), max_size=160).map(
        lambda ws: b"".join(w.to_bytes(4, "little") for w in ws))
    return st.one_of(st.binary(max_size=700), words)


captures = st.dictionaries(
    st.sampled_from(SLOTS),
    st.builds(R.Capture, st.sampled_from(KINDS), _data(), st.booleans(), st.booleans(), u64),
    max_size=8)
ctxs = st.builds(Ctx, st.sampled_from([0, 1, 4, 32, 200]), st.booleans(), st.booleans())


def _check_text(out):
    assert isinstance(out, str), repr(out)


def _check_args(out):
    assert isinstance(out, list), repr(out)
    for a in out:
        assert isinstance(a, str), repr(out)


def _call(arch, nr, args, caps, ret):
    c = Call(1234, 1235, arch, nr, tuple(args), caps, 1_000_000_000)
    c.ret = ret
    c.finished = ret is not None
    c.ts_exit = 1_000_000_500 if ret is not None else None
    return c


FUZZ = settings(max_examples=400, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.lists(u64, min_size=6, max_size=6), captures, rets, ctxs)
def test_every_syscall_formats(args, caps, ret, ctx):
    """format_args and format_ret of every syscall in the table, same random input."""
    for sc in SC_LIST:
        for r in (None, ret):
            call = _call(R.ARCH_X86_64, sc.nr, args, dict(caps), r)
            try:
                _check_args(format_args(call, ctx))
                _check_text(format_ret(call, ctx))
            except DecodeError:
                pass


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.sampled_from([R.ARCH_X86_64, R.ARCH_I386, R.ARCH_X32]), st.integers(-5, 2000),
       st.lists(u64, min_size=6, max_size=6), captures, rets, ctxs)
def test_foreign_and_unknown_numbers(arch, nr, args, caps, ret, ctx):
    call = _call(arch, nr, args, caps, ret)
    try:
        _check_args(format_args(call, ctx))
        _check_text(format_ret(call, ctx))
        _check_text(call.name)
    except DecodeError:
        pass


@settings(max_examples=300, deadline=None, derandomize=True)
@given(u64)
def test_flag_and_enum_sets(v):
    for name, fn in list(registry.FLAG_SETS.items()) + list(registry.ENUM_SETS.items()):
        try:
            _check_text(fn(v))
        except DecodeError:
            pass


@FUZZ
@given(_data(), st.lists(u64, min_size=6, max_size=6), rets, ctxs)
def test_struct_decoders(data, args, ret, ctx):
    call = _call(R.ARCH_X86_64, 0, args, {}, ret)
    for name, (size, fn) in registry.STRUCTS.items():
        for d in (data, data[:size], data[:max(size - 1, 0)], b""):
            try:
                _check_text(fn(d, call, ctx))
            except DecodeError:
                pass


@FUZZ
@given(st.lists(u64, min_size=6, max_size=6), captures, rets, ctxs)
def test_special_printers(args, caps, ret, ctx):
    """SPECIAL and SPECIAL_RET entries called directly (for whatever syscall they are)."""
    by_name = {sc.name: sc for sc in SC_LIST}
    for name, fn in registry.SPECIAL.items():
        nr = by_name[name].nr if name in by_name else 0
        call = _call(R.ARCH_X86_64, nr, args, dict(caps), ret)
        try:
            out = fn(call, ctx)
            if out is not None:
                _check_args(out)
        except DecodeError:
            pass
    for name, fn in registry.SPECIAL_RET.items():
        if ret is None:
            continue
        nr = by_name[name].nr if name in by_name else 0
        call = _call(R.ARCH_X86_64, nr, args, dict(caps), ret)
        try:
            out = fn(call, ctx)
            if out is not None:
                _check_text(out)
        except DecodeError:
            pass


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.binary(max_size=200))
def test_siginfo(data):
    try:
        _check_text(siginfo(data))
    except DecodeError:
        pass


def test_decode_error_is_raised_for_short_structs():
    """The struct decoders say a short buffer is short (the generic printer then
    falls back to the address), rather than printing garbage or crashing."""
    stat = registry.STRUCTS["stat"][1]
    try:
        stat(b"\0" * 10, None, Ctx())
    except DecodeError:
        pass
    else:
        raise AssertionError("a 10-byte struct stat was decoded")
