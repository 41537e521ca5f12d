"""A stand-in for part of a systemd unit's sandbox, for a machine where systemd is not PID 1.

`python -m toolkitrag.testing.unit_sandbox UNIT_FILE -- COMMAND...` applies to itself what the
kernel enforces for these directives of UNIT_FILE, then execs COMMAND:

- NoNewPrivileges=true            prctl(PR_SET_NO_NEW_PRIVS)
- SystemCallFilter= (allow list)  a seccomp filter built with libseccomp from the same syscall
  SystemCallErrorNumber=            groups systemd uses (`systemd-analyze syscall-filter`)
- RestrictAddressFamilies=        seccomp: socket() with any other family fails with EAFNOSUPPORT
- UMask=                          umask()
- MemoryDenyWriteExecute=true     prctl(PR_SET_MDWE), the same rule in the kernel (Linux 6.3+;
                                  on an older kernel, which lacks it, the stand-in leaves it out)

It proves that the app's code runs inside those rules (the ones most likely to break a Python
program: a syscall or socket family it needs). It does not reproduce the mount namespace
(ProtectSystem, PrivateTmp...), the user namespace or capability rules: those need systemd.
"""

import ctypes
import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4


def SCMP_ACT_ERRNO(number: int) -> int:  # noqa: N802 - libseccomp's name
    return 0x00050000 | (number & 0x0000FFFF)


class ScmpArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def unit_directives(unit_file: Path) -> dict[str, list[str]]:
    """Every `Key=value` of the unit, values in order (a key may repeat)."""
    directives: dict[str, list[str]] = {}
    for line in unit_file.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            directives.setdefault(key.strip(), []).append(value.strip())
    return directives


def syscall_groups() -> dict[str, list[str]]:
    """systemd's syscall groups (@system-service...) as this systemd defines them."""
    output = subprocess.run(
        ["systemd-analyze", "syscall-filter"],  # noqa: S607 - the system's own systemd-analyze
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.startswith("    ") and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    result: set[str] = set()
    for name in names:
        if name.startswith("@"):
            result |= expand(groups[name], groups)
        else:
            result.add(name)
    return result


def allowed_syscalls(values: list[str]) -> set[str]:
    """The allow list that SystemCallFilter= lines add up to (the first must be an allow list)."""
    groups = syscall_groups()
    allowed: set[str] = set()
    for value in values:
        if value.startswith("~"):
            allowed -= expand(value[1:].split(), groups)
        else:
            allowed |= expand(value.split(), groups)
    return allowed


def apply(unit_file: Path) -> None:
    directives = unit_directives(unit_file)
    if directives.get("UMask"):
        os.umask(int(directives["UMask"][-1], 8))
    libc = ctypes.CDLL(None, use_errno=True)
    no_new_privileges = directives.get("NoNewPrivileges", ["false"])[-1] == "true"
    if no_new_privileges and libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    memory_deny_write_execute = directives.get("MemoryDenyWriteExecute", ["false"])[-1] == "true"
    if (
        memory_deny_write_execute
        and libc.prctl(65, 1, 0, 0, 0) != 0  # PR_SET_MDWE, REFUSE_EXEC_GAIN
        and ctypes.get_errno() != errno.EINVAL  # EINVAL: a kernel before 6.3, which lacks it
    ):
        raise OSError(ctypes.get_errno(), "PR_SET_MDWE failed")
    seccomp = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    seccomp.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(ScmpArgCmp)
    ]  # fmt: skip
    seccomp.seccomp_load.argtypes = [ctypes.c_void_p]

    filters = directives.get("SystemCallFilter", [])
    error_name = directives.get("SystemCallErrorNumber", ["EPERM"])[-1]
    # Without SystemCallFilter everything is allowed; with it, the rest fails with the errno.
    ctx = seccomp.seccomp_init(SCMP_ACT_ERRNO(getattr(errno, error_name)) if filters else SCMP_ACT_ALLOW)
    families = [
        getattr(socket, name) for name in " ".join(directives.get("RestrictAddressFamilies", [])).split()
    ]
    for name in sorted(allowed_syscalls(filters)) if filters else []:
        number = seccomp.seccomp_syscall_resolve_name(name.encode())
        if number < 0:  # not a syscall on this architecture (e.g. the *_time64 ones)
            continue
        if name == "socket" and families:
            continue  # added below, for the allowed families only
        if seccomp.seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, number, 0, None) != 0:
            raise OSError(f"seccomp_rule_add({name}) failed")
    if families:
        number = seccomp.seccomp_syscall_resolve_name(b"socket")
        for family in families:
            rule = ScmpArgCmp(0, SCMP_CMP_EQ, family, 0)
            if seccomp.seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, number, 1, ctypes.byref(rule)) != 0:
                raise OSError("seccomp_rule_add(socket) failed")
        # Like systemd, a refused family fails with EAFNOSUPPORT (programs expect that one).
        for family in range(1, 46):  # AF_UNIX .. AF_MCTP
            if family not in families:
                rule = ScmpArgCmp(0, SCMP_CMP_EQ, family, 0)
                seccomp.seccomp_rule_add_array(
                    ctx, SCMP_ACT_ERRNO(errno.EAFNOSUPPORT), number, 1, ctypes.byref(rule)
                )
    if seccomp.seccomp_load(ctx) != 0:
        raise OSError("seccomp_load failed")


def main(argv: list[str]) -> None:
    if "--" not in argv or argv.index("--") != 2:
        sys.exit("usage: python -m toolkitrag.testing.unit_sandbox UNIT_FILE -- COMMAND...")
    apply(Path(argv[1]))
    command = argv[3:]
    os.execvp(command[0], command)  # noqa: S606 - the command the test gave


if __name__ == "__main__":
    main(sys.argv)
