"""Names vulture cannot see used (tools/lint): each is reached through a table,
getattr, a framework or the public API.  A name lands here with its reason;
dead code is removed instead."""
# ruff: noqa: F821
# the CLI table (veil.cli.COMMANDS) names each command's function as a string
cmd_bench, cmd_prep, cmd_run, cmd_show, cmd_sockets, cmd_syscalls
# PEP 562 module attributes of veil/__init__.py
__getattr__, __dir__
# argparse calls it (VeilArgumentParser overrides the help formatter)
_get_formatter
# argparse's translation function, which veil.cli.common replaces (argparse calls it)
_
# complete tables of kernel numbers (ptrace requests, idtype_t), kept whole so a
# request is looked up by its name, not re-typed
SYSEMU, SYSEMU_SINGLESTEP, PEEKSIGINFO, P_ALL, P_PGID
# codes shared with csrc/textfmt.c (the plan's op codes), kept in step with it
END, PYTHON
# lief's ELF parser configuration: lief reads these attributes
parse_relocations, parse_notes, parse_overlay, parse_dyn_symbols, parse_symtab_symbols
parse_symbol_versions
# the hashing writer handed to gzip/tarfile as a file object (they call these)
writable, tell
# tarfile.TarInfo fields tarfile writes out
gname
# veil.pytest_plugin.CallResult: what a test reads from a call made under veil
exception
# read by tests/test_fidelity.py (which captures the C build offers)
IOV_FULL_LEN_SUPPORTED
# the decoded call handed to observers and hooks: what a user's code reads
finished
# veil prep analyze's JSON (the ElfInfo dataclass as a whole)
has_dynamic
# the public API (docs/API.md): Session, Policy, Stop and the syscall table's rows
kill_on, masked, deny_paths, readonly_paths, cmdline, process, has_class, arg_index, signature
# the socket table's entries are written out as a whole (dataclasses.asdict)
nonblocking, send_queue, recv_queue, accepted, last_sent, last_received, last_state
# registers set on python-ptrace's regs object, written back to the tracee with setregs
rax, orig_rax
# veil.record: the dataclasses module reads a Field's _field_type
_field_type
