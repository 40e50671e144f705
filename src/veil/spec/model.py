"""RunSpec: the whole description of a run, in the profile's sections.

A RunSpec is an immutable value.  The command line, a profile, a bundle, the
Python API and the pytest plugin each make one; ``veil.spec.build`` turns it
into a Session with every protection the run calls for.  Constructing a
section checks its values (``veil.spec.checks``): a wrong one raises
SpecError naming its key.
"""
from __future__ import annotations

import os
from _collections_abc import Mapping  # collections.abc's, without collections (start-up)

from ..errors import UsageError
from ..layout import Bind
from ..record import Field, Record, field, record_fields, replace
from . import checks
from .checks import SpecError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

MappingProxyType = type(type.__dict__)   # types.MappingProxyType, without the types module

def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return MappingProxyType(dict(value))
    return value


class Section(Record):
    """A profile section: checks and freezes its values when made."""

    NAME = ""

    def __post_init__(self) -> None:
        for f in record_fields(self):
            value = getattr(self, f.name)
            if value is not None and value != _default(f):
                value = checks.check(self.NAME, f.name, value)
            object.__setattr__(self, f.name, _frozen(value))
        self._consistent()

    def _consistent(self) -> None:
        """Checks that concern several keys."""

    def given(self) -> dict:
        """The keys set to something else than their default."""
        return {f.name: getattr(self, f.name) for f in record_fields(self)
                if getattr(self, f.name) is not None and getattr(self, f.name) != _default(f)}


def _default(f: Field) -> Any:
    value = f.value_when_missing()
    return None if value is f.MISSING else value


class Environment(Section):
    """What the program starts with.  ``env`` None: veil's own environment."""

    NAME = "environment"
    argv: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None
    unset: tuple[str, ...] = ()
    clear_env: bool = False
    cwd: str | None = None                    # a guest path
    umask: int | None = None
    rlimits: Mapping[str, tuple[int, int | None]] = field(default_factory=dict)
    argv0: str | None = None


class Layout(Section):
    """The guest's directory tree (PRoot's -r/-b).  Active when anything is set."""

    NAME = "layout"
    root: str | None = None
    binds: tuple[Bind, ...] = ()
    hidden: tuple[str, ...] = ()
    readonly: tuple[str, ...] = ()
    private_tmp: bool = False
    keep_tmp: bool = False
    engine: str = "auto"  # how the tree is made: "mount", "ptrace" or the first that can
    # what only the mount engine gives (bubblewrap's --unshare-*, --new-session; PRoot's -q)
    namespaces: tuple[str, ...] = ()  # "pid", "ipc", "uts", "cgroup" of the program's own
    new_session: bool = False         # setsid(2)
    qemu: str | None = None        # qemu-user runs the programs of its architecture

    @property
    def active(self) -> bool:
        return bool(self.root or self.binds or self.hidden or self.readonly or self.private_tmp
                    or self.namespaces or self.new_session or self.qemu)

    def _consistent(self) -> None:
        if self.keep_tmp and not self.private_tmp:
            raise SpecError("layout", "keep_tmp", "goes with private_tmp")


class System(Section):
    """The system identity the program is shown.  None: the real value."""

    NAME = "system"
    hostname: str | None = None
    domainname: str | None = None
    sysname: str | None = None
    kernel_release: str | None = None
    kernel_version: str | None = None
    machine: str | None = None
    uid: int | None = None
    gid: int | None = None
    fake_root: bool = False
    cpus: int | None = None
    ownership_db: str | None = None

    def _consistent(self) -> None:
        if self.fake_root and (self.uid is not None or self.gid is not None):
            raise SpecError("system", "fake_root", "fake_root and uid/gid exclude each other")
        if self.gid is not None and self.uid is None:
            raise SpecError("system", "gid", "a gid needs a uid")
        if self.ownership_db and not (self.fake_root or self.uid is not None):
            raise SpecError("system", "ownership_db", "goes with fake_root or uid")

    @property
    def ids(self) -> tuple[int, int] | None:
        """(uid, gid) the program is shown, or None for its real ids."""
        if self.fake_root:
            return 0, 0
        if self.uid is not None:
            return self.uid, self.uid if self.gid is None else self.gid
        return None


class Network(Section):
    """Which addresses connect/bind/sendto reach (rules: CIDR[:PORTS][=ERRNO]),
    and addresses shown to the program in place of others (VIRT=HOST)."""

    NAME = "network"
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    default: str = "allow"
    map: tuple[str, ...] = ()


class Security(Section):
    """``strict``: every call veil does not know fails; ``deny``: syscall sets that
    fail with EPERM; OCI seccomp profiles, strace-style inject expressions and
    Python policy files, applied in that order."""

    NAME = "security"
    strict: bool = False
    deny: tuple[str, ...] = ()
    seccomp_profile: tuple[str, ...] = ()
    inject: tuple[str, ...] = ()
    policy: tuple[str, ...] = ()
    paths_read: tuple[str, ...] = ()       # learned by veil prep; enforced when enforce
    paths_written: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()            # addresses the learning run used (CIDR[:PORTS])
    enforce: bool = False                  # veil.prep.enforce applies the three above


class Observation(Section):
    """What veil records of the run and how it traces: ``trace`` (a -e trace= set)
    written as text to ``output``; the socket table (``sockets``), written to
    ``sockets_out`` at the end (and on SIGUSR1 to veil)."""

    NAME = "observation"
    trace: str | None = None
    output: str | None = None
    sockets: bool = False
    sockets_out: str | None = None
    capture_bytes: int = 0
    seccomp: bool = True
    affinity: str = "auto"

    @property
    def keeps_sockets(self) -> bool:
        return self.sockets or bool(self.sockets_out)


SECTIONS = {cls.NAME: cls for cls in (Environment, Layout, System, Network, Security, Observation)}


class RunSpec(Record):
    """The whole description of a run.  Make one directly, from a profile
    (``RunSpec.from_profile``) or from a bundle (``RunSpec.from_bundle``);
    ``veil.run(spec=...)``, ``veil.Session(spec=...)`` and ``veil run`` run it
    with the same confinement."""

    environment: Environment = field(default_factory=Environment)
    layout: Layout = field(default_factory=Layout)
    system: System = field(default_factory=System)
    network: Network = field(default_factory=Network)
    security: Security = field(default_factory=Security)
    observation: Observation = field(default_factory=Observation)
    source: str | None = field(default=None, compare=False)  # the profile it came from
    bundle: str | None = field(default=None, compare=False)  # the bundle directory

    def __post_init__(self) -> None:
        for name, cls in SECTIONS.items():
            value = getattr(self, name)
            if isinstance(value, Mapping):  # RunSpec(system={"hostname": "db2"})
                object.__setattr__(self, name, cls(**value))
            elif not isinstance(value, cls):
                raise SpecError(name, "*", f"expected a veil.spec.{cls.__name__}, "
                                f"got {type(value).__name__}")

    @classmethod
    def from_profile(cls, path: str, overrides: Sequence[str] = (),
                     bundle: str | None = None) -> RunSpec:
        """Read a profile (TOML); ``overrides`` are ``SECTION.KEY=VALUE`` (``--set``).
        Errors (UsageError) name the file, the line and the key."""
        def make(values: Mapping[str, Mapping[str, Any]], source: str) -> RunSpec:
            return cls(**{name: SECTIONS[name](**keys) for name, keys in values.items()},
                       source=source, bundle=bundle)
        from . import toml  # a profile's reader and writer: loaded when one is used
        return toml.load_profile(path, overrides, make)

    @classmethod
    def from_bundle(cls, directory: str, overrides: Sequence[str] = ()) -> RunSpec:
        """A bundle made by ``veil prep pack``: its profile, paths relative to it."""
        profile = os.path.join(directory, "profile.toml")
        if not os.path.isfile(profile):
            raise UsageError(f"{directory}: not a bundle (no profile.toml in the directory)")
        return cls.from_profile(profile, overrides, bundle=directory)

    def to_profile(self, relative_to: str | None = None) -> str:
        """The spec as a profile (TOML); host paths under ``relative_to`` are written
        relative to it."""
        from . import toml
        return toml.dump_profile({name: getattr(self, name).given() for name in SECTIONS},
                                 relative_to)

    def replace(self, **sections: Any) -> RunSpec:
        """A copy with sections replaced; a mapping updates the section's keys:
        ``spec.replace(system={"hostname": "db2"})``."""
        new = {}
        for name, value in sections.items():
            if name not in SECTIONS:
                raise SpecError(name, "*", f"no section [{name}] (known: {', '.join(SECTIONS)})")
            if isinstance(value, Mapping):
                value = replace(getattr(self, name), **value)
            new[name] = value
        return replace(self, **new)

    def extended(self, **sections: Mapping[str, Any]) -> RunSpec:
        """A copy with more: lists get these entries after their own, tables are
        updated, other values replaced (how command-line flags add to a profile).
        The identity (uid, gid, fake_root) is replaced as a whole."""
        new = {}
        for name, given in sections.items():
            current = getattr(self, name)
            values = dict(current.given())
            if name == "system" and {"uid", "gid", "fake_root"} & set(given):
                for key in ("uid", "gid", "fake_root"):
                    values.pop(key, None)
            for key, value in given.items():
                old = values.get(key)
                if isinstance(old, tuple) and isinstance(value, (list, tuple)):
                    value = [*old, *value]
                elif isinstance(old, Mapping) and isinstance(value, Mapping):
                    value = {**old, **value}
                values[key] = value
            new[name] = SECTIONS[name](**values)
        return replace(self, **new)

    @property
    def confines(self) -> bool:
        """The run changes what the program sees or may do (then veil protects itself)."""
        return bool(self.layout.active or self.system.given() or self.network.given()
                    or self.security.strict or self.security.deny
                    or self.security.seccomp_profile or self.security.inject
                    or self.security.policy or self.security.enforce)
