#!/usr/bin/python3
"""A small stand-in for `systemctl`, for machines where systemd is not PID 1 (CI boxes, containers).

It runs ToolkitRAG's unit files the way systemd would, closely enough for the deployment drill
(deploy/drill) and validate-production.sh to exercise the real ExecStart lines. Stdlib only; runs
on Debian 12's /usr/bin/python3 (3.11.2). Put a file named `systemctl` first on PATH that runs it:

    ln -s /path/to/toolkitrag/testing/fake_systemctl.py /somewhere/bin/systemctl

Environment:
    FAKE_SYSTEMD_UNITS   folder holding the unit files (like /etc/systemd/system)
    FAKE_SYSTEMD_STATE   folder for its state: one JSON file per unit (enabled, pid, result...),
                         the notify sockets and the output of units without StandardOutput=
    FAKE_SYSTEMD_LOG_ROOT  where LogsDirectory= folders are made (default /var/log; a drill that
                         rewrote the units' paths into a prefix points it at PREFIX/var/log)
    FAKE_SYSTEMD_LIB_ROOT  the same for StateDirectory= (default /var/lib)
    FAKE_SYSTEMD_BIN     a folder put first on the services' PATH: the one holding the `systemctl`
                         wrapper, so that a service calling systemctl reaches this stand-in (the
                         FAKE_SYSTEMD_* variables are passed on to the services for the same reason)

Commands: daemon-reload, enable [--now], disable [--now], start, stop, restart, reload,
is-active [--quiet], is-enabled [--quiet], status, show UNIT [-p PROP]... [--value], list-timers.

What it does like systemd: User=/Group= (with the user's supplementary groups), a clean
environment (PATH, HOME, USER, LOGNAME, SHELL) plus EnvironmentFile= and Environment=,
WorkingDirectory=, UMask=, ExecStartPre= in order (a failure stops the start; `-` prefix ignores
it), ExecStart= (Type=simple: in the background, its pid recorded; Type=notify: waits for READY=1
on $NOTIFY_SOCKET; Type=oneshot: every ExecStart= line in order, to completion),
StandardOutput=/StandardError= append:PATH, LogsDirectory=/StateDirectory= (and
$LOGS_DIRECTORY/$STATE_DIRECTORY), KillSignal= to the process group
(KillMode=mixed: to the main process only) then SIGKILL after TimeoutStopSec=, ExecReload= with
$MAINPID. Timers: `enable --now` / `start` make a timer active (they do not run its service);
NextElapseUSecRealtime comes from OnCalendar= through `systemd-analyze calendar`, which works
without a running systemd.

What it cannot do without systemd, and ignores: the sandbox directives (ProtectSystem=,
ReadWritePaths=, PrivateTmp=, NoNewPrivileges=...; they need namespaces set up by systemd),
Restart= (nothing supervises the processes after this command exits), cgroups (the process group
stands in for the unit's cgroup), RandomizedDelaySec= and the journal.
"""

import grp
import json
import os
import pwd
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def fail(message: str, code: int = 1) -> "None":
    print(message, file=sys.stderr)
    raise SystemExit(code)


def units_dir() -> Path:
    folder = os.environ.get("FAKE_SYSTEMD_UNITS")
    if not folder:
        fail("fake systemctl: set FAKE_SYSTEMD_UNITS to the folder holding the unit files")
    return Path(folder)


def state_dir() -> Path:
    folder = os.environ.get("FAKE_SYSTEMD_STATE")
    if not folder:
        fail("fake systemctl: set FAKE_SYSTEMD_STATE to a folder for its state")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)  # the service users must reach the notify sockets inside
    return path


def unit_name(name: str) -> str:
    return name if "." in name else name + ".service"


# --- unit files -------------------------------------------------------------------------------


def parse_unit(name: str) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [values in order]}}; an empty assignment resets the list, as in systemd."""
    path = units_dir() / name
    if not path.is_file():
        fail(f"Unit {name} not found (no {path}).", 5)
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    pending = ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        values = current.setdefault(key.strip(), [])
        if value.strip():
            values.append(value.strip())
        else:
            values.clear()
    return sections


def setting(unit: dict, section: str, key: str, default: str = "") -> str:
    values = unit.get(section, {}).get(key, [])
    return values[-1] if values else default


def seconds(value: str, default: float) -> float:
    """systemd time spans: 40, 40s, 5min, 1min 30s, 2h, infinity."""
    if not value:
        return default
    if value == "infinity":
        return float("inf")
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "ms": 0.001}
    total = 0.0
    for number, suffix in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units.get(suffix, 1)
    return total


# --- state ------------------------------------------------------------------------------------


def load_state(name: str) -> dict:
    path = state_dir() / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    return {"enabled": False, "active": False, "pid": 0, "start_time": "", "result": "success"}


def save_state(name: str, state: dict) -> None:
    path = state_dir() / f"{name}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state))
    temporary.replace(path)


def process_start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat ('' when gone or a zombie): tells a reused pid from ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return ""
    return fields[19]


def alive(state: dict) -> bool:
    pid = state.get("pid", 0)
    return bool(pid) and process_start_time(pid) == state.get("start_time")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group: our stand-in for the unit's cgroup."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def active_state(name: str, unit: dict, state: dict) -> tuple[str, str]:
    """(ActiveState, SubState)."""
    if name.endswith(".timer"):
        return ("active", "waiting") if state.get("active") else ("inactive", "dead")
    if setting(unit, "Service", "Type", "simple") == "oneshot":
        if state.get("active") and setting(unit, "Service", "RemainAfterExit") in ("yes", "true", "1"):
            return "active", "exited"
        return ("inactive", "dead") if state.get("result") == "success" else ("failed", "failed")
    if alive(state):
        return "active", "running"
    if state.get("pid"):  # it was started and nobody stopped it: it died
        return "failed", "failed"
    return ("inactive", "dead") if state.get("result") == "success" else ("failed", "failed")


# --- running commands as the unit says ------------------------------------------------------------


def read_environment_file(spec: str) -> dict[str, str]:
    optional = spec.startswith("-")
    path = Path(spec.lstrip("-"))
    if not path.exists():
        if optional:
            return {}
        raise RuntimeError(f"EnvironmentFile {path} does not exist")
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def service_environment(unit: dict, extra: dict[str, str]) -> dict[str, str]:
    user = setting(unit, "Service", "User", "root")
    account = pwd.getpwnam(user)
    env = {
        "PATH": SERVICE_PATH,
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "USER": user,
        "LOGNAME": user,
        "HOME": account.pw_dir,
        "SHELL": account.pw_shell,
    }
    for assignment in unit.get("Service", {}).get("Environment", []):
        for word in shlex.split(assignment):
            key, _, value = word.partition("=")
            env[key] = value
    for spec in unit.get("Service", {}).get("EnvironmentFile", []):
        env.update(read_environment_file(spec))
    # A service that runs `systemctl` itself (healthcheck, restore) must reach this stand-in too.
    env.update({key: value for key, value in os.environ.items() if key.startswith("FAKE_SYSTEMD_")})
    if os.environ.get("FAKE_SYSTEMD_BIN"):
        env["PATH"] = os.environ["FAKE_SYSTEMD_BIN"] + ":" + env["PATH"]
    env.update(extra)
    return env


def command_words(line: str, env: dict[str, str]) -> tuple[list[str], bool, bool]:
    """(argv, ignore_failure, as_root) for one Exec line: prefixes, then $VAR / ${VAR}."""
    ignore = as_root = False
    while line and line[0] in "-@:+!":
        ignore |= line[0] == "-"
        as_root |= line[0] in "+!"
        line = line[1:]
    words = []
    for word in shlex.split(line):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:  # $VAR on its own is split into words, like systemd does
            words.extend(env.get(whole.group(1), "").split())
            continue
        words.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), ""), word))
    return words, ignore, as_root


def output_file(name: str, unit: dict, key: str):
    spec = setting(unit, "Service", key)
    for mode, prefix in (("ab", "append:"), ("wb", "file:"), ("wb", "truncate:")):
        if spec.startswith(prefix):
            path = Path(spec[len(prefix) :])
            path.parent.mkdir(parents=True, exist_ok=True)
            return path.open(mode)
    # journal (the default) or anything else: a file in the state folder stands in for the journal
    return (state_dir() / f"{name}.journal").open("ab")


def prepare_directories(unit: dict) -> dict[str, str]:
    """LogsDirectory= and StateDirectory=: made, owned by User=; their paths as systemd passes them."""
    user = setting(unit, "Service", "User", "root")
    account = pwd.getpwnam(user)
    gid = (
        grp.getgrnam(setting(unit, "Service", "Group")).gr_gid
        if setting(unit, "Service", "Group")
        else account.pw_gid
    )
    roots = {
        "LogsDirectory": ("LOGS_DIRECTORY", os.environ.get("FAKE_SYSTEMD_LOG_ROOT", "/var/log")),
        "StateDirectory": ("STATE_DIRECTORY", os.environ.get("FAKE_SYSTEMD_LIB_ROOT", "/var/lib")),
    }
    env = {}
    for key, (variable, root) in roots.items():
        folders = []
        for entry in unit.get("Service", {}).get(key, []):
            for relative in entry.split():
                folder = Path(root) / relative
                folder.mkdir(parents=True, exist_ok=True)
                os.chown(folder, account.pw_uid, gid)
                folder.chmod(0o755)
                folders.append(str(folder))
        if folders:
            env[variable] = ":".join(folders)
    return env


def spawn(name: str, unit: dict, line: str, extra_env: dict[str, str]) -> tuple[subprocess.Popen, bool]:
    env = service_environment(unit, {**prepare_directories(unit), **extra_env})
    argv, ignore, as_root = command_words(line, env)
    user = "root" if as_root else setting(unit, "Service", "User", "root")
    account = pwd.getpwnam(user)
    group = setting(unit, "Service", "Group") if not as_root else ""
    gid = grp.getgrnam(group).gr_gid if group else account.pw_gid
    workdir = setting(unit, "Service", "WorkingDirectory", "/")
    if workdir.startswith("-"):
        workdir = workdir[1:] if Path(workdir[1:]).is_dir() else "/"
    workdir = account.pw_dir if workdir == "~" else workdir
    process = subprocess.Popen(  # noqa: S603 - the unit file's own command line
        argv,
        cwd=workdir,
        env=env,
        user=account.pw_uid,
        group=gid,
        extra_groups=os.getgrouplist(user, gid),
        umask=int(setting(unit, "Service", "UMask", "0022"), 8),
        stdin=subprocess.DEVNULL,
        stdout=output_file(name, unit, "StandardOutput"),
        stderr=output_file(name, unit, "StandardError"),
        start_new_session=True,  # its own process group: what `stop` signals
    )
    return process, ignore


def run_to_completion(name: str, unit: dict, line: str, extra_env: dict | None = None) -> bool:
    process, ignore = spawn(name, unit, line, extra_env or {})
    return process.wait() == 0 or ignore


def wait_for_ready(process: subprocess.Popen, sock: socket.socket, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            message = sock.recv(4096).decode(errors="replace")
        except TimeoutError:
            continue
        if "READY=1" in message.split("\n"):
            return True
    return False


# --- commands ---------------------------------------------------------------------------------------


def start(name: str) -> int:
    unit = parse_unit(name)
    state = load_state(name)
    if name.endswith(".timer"):
        state["active"] = True
        save_state(name, state)
        return 0
    if alive(state):
        return 0  # already running: systemd does nothing either
    kind = setting(unit, "Service", "Type", "simple")
    job_failed = (
        f'Job for {name} failed because the control process exited with error code.\nSee "systemctl status '
        f"{name}\" and {state_dir() / (name + '.journal')} or the unit's StandardOutput= for details."
    )
    try:
        for line in unit.get("Service", {}).get("ExecStartPre", []):
            if not run_to_completion(name, unit, line):
                save_state(name, {**state, "pid": 0, "active": False, "result": "exit-code"})
                print(job_failed, file=sys.stderr)
                return 1
        if kind == "oneshot":
            ok = all(run_to_completion(name, unit, line) for line in unit["Service"].get("ExecStart", []))
            save_state(name, {**state, "pid": 0, "active": ok, "result": "success" if ok else "exit-code"})
            if not ok:
                print(job_failed, file=sys.stderr)
            return 0 if ok else 1
        line = setting(unit, "Service", "ExecStart")
        if kind == "notify":
            socket_path = state_dir() / f"{name}.notify"
            socket_path.unlink(missing_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(str(socket_path))
            socket_path.chmod(0o666)  # the service user writes READY=1 into it
            process, _ = spawn(name, unit, line, {"NOTIFY_SOCKET": str(socket_path)})
            ready = wait_for_ready(process, sock, seconds(setting(unit, "Service", "TimeoutStartSec"), 90))
            sock.close()
            socket_path.unlink(missing_ok=True)
            if not ready:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                save_state(name, {**state, "pid": 0, "active": False, "result": "exit-code"})
                print(job_failed, file=sys.stderr)
                return 1
        else:
            process, _ = spawn(name, unit, line, {})
    except (OSError, RuntimeError, KeyError) as error:
        save_state(name, {**state, "pid": 0, "active": False, "result": "resources"})
        print(f"Failed to start {name}: {error}", file=sys.stderr)
        return 1
    save_state(
        name,
        {**state, "pid": process.pid, "start_time": process_start_time(process.pid), "result": "success"},
    )
    return 0


def stop(name: str) -> int:
    unit = parse_unit(name)
    state = load_state(name)
    if name.endswith(".timer") or not alive(state):
        save_state(name, {**state, "active": False, "pid": 0})
        return 0
    pid = state["pid"]
    kill_signal = getattr(signal, setting(unit, "Service", "KillSignal", "SIGTERM"))
    if setting(unit, "Service", "KillMode", "control-group") == "mixed":
        os.kill(pid, kill_signal)
    else:
        os.killpg(pid, kill_signal)
    deadline = time.monotonic() + seconds(setting(unit, "Service", "TimeoutStopSec"), 90)
    while group_members(pid) and time.monotonic() < deadline:
        if not alive(state) and setting(unit, "Service", "KillMode") == "mixed":
            break  # mixed: once the main process is gone, the rest get SIGKILL straight away
        time.sleep(0.1)
    result = "success"
    if alive(state):
        result = "timeout"
    for member in group_members(pid):
        os.kill(member, signal.SIGKILL)
    save_state(name, {**state, "pid": 0, "active": False, "result": result})
    return 0


def reload(name: str) -> int:
    unit = parse_unit(name)
    state = load_state(name)
    if not alive(state):
        fail(f"Job for {name} failed: the unit is not active (systemctl start {name}).")
    lines = unit.get("Service", {}).get("ExecReload", [])
    if not lines:
        fail(f"Failed to reload {name}: Job type reload is not applicable for unit {name}.")
    for line in lines:
        if not run_to_completion(name, unit, line, {"MAINPID": str(state["pid"])}):
            fail(f"Job for {name} failed because the control process exited with error code.")
    return 0


def next_elapse(unit: dict) -> str:
    """The earliest OnCalendar= elapse, as systemctl prints it ('Tue 2026-12-01 03:15:00 UTC')."""
    found = []
    for expression in unit.get("Timer", {}).get("OnCalendar", []):
        command = ["systemd-analyze", "calendar", expression]
        result = subprocess.run(command, capture_output=True, text=True)  # noqa: S603, S607
        match = re.search(r"Next elapse: (.+)", result.stdout)
        if match:
            found.append(match.group(1).strip())
    return min(found, key=lambda text: text.split(" ", 1)[1]) if found else ""


def properties(name: str) -> dict[str, str]:
    unit = parse_unit(name)
    state = load_state(name)
    active, sub = active_state(name, unit, state)
    values = {
        "Id": name,
        "Description": setting(unit, "Unit", "Description", name),
        "ActiveState": active,
        "SubState": sub,
        "LoadState": "loaded",
        "UnitFileState": unit_file_state(unit, state),
        "MainPID": str(state["pid"] if alive(state) else 0),
        "Result": state.get("result", "success"),
        "Type": setting(unit, "Service", "Type", "simple"),
        "User": setting(unit, "Service", "User"),
        "FragmentPath": str(units_dir() / name),
    }
    if name.endswith(".timer"):
        values["NextElapseUSecRealtime"] = next_elapse(unit) if state.get("active") else ""
        values["LastTriggerUSec"] = state.get("last_trigger", "n/a")
        values["Unit"] = setting(unit, "Timer", "Unit", name.rsplit(".", 1)[0] + ".service")
    return values


def unit_file_state(unit: dict, state: dict) -> str:
    if state.get("enabled"):
        return "enabled"
    return "disabled" if unit.get("Install") else "static"


def show(names: list[str], wanted: list[str], value_only: bool) -> int:
    for index, name in enumerate(names):
        values = properties(name)
        keys = wanted or list(values)
        if index:
            print()
        for key in keys:
            print(values.get(key, "") if value_only else f"{key}={values.get(key, '')}")
    return 0


def status(name: str) -> int:
    values = properties(name)
    active = values["ActiveState"]
    print(f"● {name} - {values['Description']}")
    print(f"     Loaded: loaded ({values['FragmentPath']}; {values['UnitFileState']})")
    print(f"     Active: {active} ({values['SubState']})")
    if values["MainPID"] != "0":
        print(f"   Main PID: {values['MainPID']}")
    if "NextElapseUSecRealtime" in values:
        print(f"    Trigger: {values['NextElapseUSecRealtime'] or 'n/a'}")
    print("  (fake systemctl: no journal; see the unit's StandardOutput= file)")
    return {"active": 0, "failed": 3, "inactive": 3}.get(active, 3)


def list_timers() -> int:
    print(f"{'NEXT':<32} {'UNIT':<32} ACTIVATES")
    count = 0
    for path in sorted(units_dir().glob("*.timer")):
        values = properties(path.name)
        if values["ActiveState"] == "active":
            print(f"{values['NextElapseUSecRealtime']:<32} {path.name:<32} {values['Unit']}")
            count += 1
    print(f"\n{count} timers listed.")
    return 0


def main(argv: list[str]) -> int:
    flags = {arg for arg in argv if arg.startswith("-")}
    quiet = bool(flags & {"-q", "--quiet"})
    now = "--now" in flags
    value_only = "--value" in flags
    wanted: list[str] = []
    words: list[str] = []
    iterator = iter(argv)
    for arg in iterator:
        if arg in ("-p", "--property"):
            wanted += next(iterator, "").split(",")
        elif arg.startswith("--property="):
            wanted += arg.split("=", 1)[1].split(",")
        elif not arg.startswith("-"):
            words.append(arg)
    if not words:
        fail("usage: systemctl COMMAND [UNIT...] (fake systemctl: see toolkitrag/testing/fake_systemctl.py)")
    command, names = words[0], [unit_name(name) for name in words[1:]]
    code = 0
    if command == "daemon-reload":
        for path in units_dir().iterdir():
            if path.suffix in (".service", ".timer"):
                parse_unit(path.name)  # a unit that cannot be read fails here, as it would at boot
    elif command in ("enable", "disable"):
        for name in names:
            unit = parse_unit(name)
            save_state(name, {**load_state(name), "enabled": command == "enable"})
            if not unit.get("Install") and not quiet:
                print(f"The unit file {name} has no [Install] section; enabled as a stand-in anyway.")
            if now:
                code |= start(name) if command == "enable" else stop(name)
    elif command == "start":
        for name in names:
            code |= start(name)
    elif command == "stop":
        for name in names:
            code |= stop(name)
    elif command == "restart":
        for name in names:
            stop(name)
            code |= start(name)
    elif command == "reload":
        for name in names:
            code |= reload(name)
    elif command == "is-active":
        for name in names:
            active = properties(name)["ActiveState"]
            if not quiet:
                print(active)
            code |= 0 if active == "active" else 3
    elif command == "is-enabled":
        for name in names:
            enabled = properties(name)["UnitFileState"]
            if not quiet:
                print(enabled)
            code |= 0 if enabled == "enabled" else 1
    elif command == "status":
        for name in names:
            code |= status(name)
    elif command == "show":
        code = show(names, wanted, value_only)
    elif command == "list-timers":
        code = list_timers()
    else:
        fail(f"fake systemctl: unknown command {command!r} (see toolkitrag/testing/fake_systemctl.py)")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
