"""toolkitrag/testing/fake_systemctl.py, the `systemctl` stand-in of deploy/drill, against real
processes: it must run unit files the way systemd does, or the drill proves nothing."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toolkitrag.testing import REPO_ROOT

FAKE = REPO_ROOT / "toolkitrag" / "testing" / "fake_systemctl.py"
# The drill runs it with Debian's own Python; the tests do too when it is there.
PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


@pytest.fixture
def systemd(tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    env = {
        "FAKE_SYSTEMD_UNITS": str(units),
        "FAKE_SYSTEMD_STATE": str(tmp_path / "state"),
        "FAKE_SYSTEMD_LOG_ROOT": str(tmp_path / "log"),
    }

    def systemctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PYTHON, str(FAKE), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
        )

    def unit(name: str, text: str) -> None:
        (units / name).write_text(text)

    systemctl.unit = unit
    yield systemctl
    for path in units.glob("*.service"):
        systemctl("stop", path.name)


def wait_until(predicate, what: str) -> None:
    """Poll; the deadline only stops a hung test, no assertion is about how long it took."""
    deadline = time.monotonic() + 30
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_simple_service_runs_with_the_units_environment_and_stops(systemd, tmp_path):
    (tmp_path / "app.env").write_text('# comment\nFROM_FILE="quoted value"\n')
    out = tmp_path / "out.log"
    systemd.unit(
        "app.service",
        f"""[Unit]
Description=test app
[Service]
Type=simple
WorkingDirectory={tmp_path}
EnvironmentFile={tmp_path}/app.env
EnvironmentFile=-{tmp_path}/missing.env
Environment=ONE=1 "TWO=two words"
ExecStartPre=/bin/sh -c 'echo pre in $(pwd) >> {tmp_path}/pre.log'
ExecStart=/bin/sh -c 'echo "$ONE|$TWO|$FROM_FILE"; exec sleep 300'
StandardOutput=append:{out}
StandardError=append:{out}
[Install]
WantedBy=multi-user.target
""",
    )
    assert systemd("enable", "--now", "app").returncode == 0
    assert (tmp_path / "pre.log").read_text() == f"pre in {tmp_path}\n"
    assert systemd("is-active", "app").stdout == "active\n"
    assert systemd("is-enabled", "app.service").stdout == "enabled\n"
    pid = int(systemd("show", "app", "-p", "MainPID", "--value").stdout)
    assert alive(pid)
    wait_until(lambda: out.exists() and out.read_text(), "the service wrote nothing")
    assert out.read_text() == "1|two words|quoted value\n"

    assert systemd("stop", "app").returncode == 0
    assert not alive(pid)
    inactive = systemd("is-active", "--quiet", "app")
    assert (inactive.returncode, inactive.stdout) == (3, "")
    assert (
        systemd("show", "app", "-p", "ActiveState", "-p", "Result").stdout
        == "ActiveState=inactive\nResult=success\n"
    )


def test_failing_exec_start_pre_stops_the_start(systemd, tmp_path):
    systemd.unit(
        "app.service",
        f"[Service]\nExecStartPre=/bin/false\nExecStart=/bin/touch {tmp_path}/started\n",
    )
    result = systemd("start", "app")
    assert result.returncode == 1
    assert "failed" in result.stderr
    assert not (tmp_path / "started").exists()
    assert systemd("show", "app", "-p", "Result", "--value").stdout == "exit-code\n"
    assert systemd("is-active", "app").stdout == "failed\n"


def test_notify_service_is_started_once_it_says_ready(systemd, tmp_path):
    marker = tmp_path / "ready-sent"
    script = (
        "import os, socket, time; time.sleep(0.5); "
        f"open({str(marker)!r}, 'w').close(); "
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
        "s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET']); time.sleep(300)"
    )
    systemd.unit("app.service", f'[Service]\nType=notify\nExecStart={PYTHON} -c "{script}"\n')
    assert systemd("start", "app").returncode == 0
    # `start` returned only after READY=1: the file written just before it exists already.
    assert marker.exists()
    assert systemd("is-active", "app").stdout == "active\n"


def test_notify_service_that_dies_before_ready_fails_the_start(systemd):
    systemd.unit("app.service", "[Service]\nType=notify\nExecStart=/bin/sh -c 'exit 3'\n")
    assert systemd("start", "app").returncode == 1
    assert systemd("is-active", "app").stdout == "failed\n"


def test_oneshot_runs_every_exec_start_in_order_and_records_failure(systemd, tmp_path):
    log = tmp_path / "steps"
    systemd.unit(
        "job.service",
        f"[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo one >> {log}'\n"
        f"ExecStart=/bin/sh -c 'echo two >> {log}'\n",
    )
    assert systemd("start", "job").returncode == 0
    assert log.read_text() == "one\ntwo\n"
    assert (
        systemd("show", "job", "-p", "ActiveState", "-p", "Result", "--value").stdout == "inactive\nsuccess\n"
    )

    systemd.unit(
        "bad.service", f"[Service]\nType=oneshot\nExecStart=/bin/false\nExecStart=/bin/touch {log}.2\n"
    )
    assert systemd("start", "bad").returncode == 1
    assert not Path(f"{log}.2").exists()
    assert (
        systemd("show", "bad", "-p", "ActiveState", "-p", "Result", "--value").stdout == "failed\nexit-code\n"
    )


def test_reload_runs_exec_reload_with_mainpid(systemd, tmp_path):
    hup, trapped = tmp_path / "hup", tmp_path / "trapped"
    systemd.unit(
        "app.service",
        "[Service]\n"
        f'ExecStart=/bin/sh -c \'trap "echo reloaded >> {hup}" HUP; touch {trapped}; '
        "while :; do sleep 0.1; done'\n"
        "ExecReload=/bin/kill -s HUP $MAINPID\n",
    )
    assert systemd("start", "app").returncode == 0
    wait_until(trapped.exists, "the service did not start")  # a HUP before its trap would kill it
    pid = systemd("show", "app", "-p", "MainPID", "--value").stdout.strip()
    assert systemd("reload", "app").returncode == 0
    wait_until(hup.exists, "ExecReload did not reach the main process")
    assert systemd("show", "app", "-p", "MainPID", "--value").stdout.strip() == pid


def test_stop_kills_a_service_that_ignores_its_kill_signal(systemd, tmp_path):
    trapped = tmp_path / "trapped"
    systemd.unit(
        "stubborn.service",
        f"[Service]\nExecStart=/bin/sh -c 'trap \"\" TERM; touch {trapped}; while :; do sleep 0.1; done'\n"
        "TimeoutStopSec=1\n",
    )
    assert systemd("start", "stubborn").returncode == 0
    wait_until(trapped.exists, "the service did not start")  # a TERM before its trap would end it
    pid = int(systemd("show", "stubborn", "-p", "MainPID", "--value").stdout)
    assert systemd("stop", "stubborn").returncode == 0
    assert not alive(pid)
    assert systemd("show", "stubborn", "-p", "Result", "--value").stdout == "timeout\n"


def test_a_service_that_died_is_failed(systemd):
    systemd.unit("app.service", "[Service]\nExecStart=/bin/sleep 300\n")
    assert systemd("start", "app").returncode == 0
    os.kill(int(systemd("show", "app", "-p", "MainPID", "--value").stdout), signal.SIGKILL)
    wait_until(
        lambda: systemd("is-active", "app").stdout == "failed\n", "a killed service still counts as active"
    )
    assert systemd("show", "app", "-p", "MainPID", "--value").stdout == "0\n"


def test_timer_schedules_from_on_calendar_without_running_its_service(systemd, tmp_path):
    systemd.unit("job.service", f"[Service]\nType=oneshot\nExecStart=/bin/touch {tmp_path}/ran\n")
    systemd.unit("job.timer", "[Timer]\nOnCalendar=*-*-* 03:15:00\n[Install]\nWantedBy=timers.target\n")
    assert systemd("is-enabled", "job.timer").stdout == "disabled\n"
    assert systemd("show", "job.timer", "-p", "NextElapseUSecRealtime", "--value").stdout == "\n"

    assert systemd("enable", "--now", "job.timer").returncode == 0
    assert systemd("is-active", "job.timer").stdout == "active\n"
    next_elapse = systemd("show", "job.timer", "-p", "NextElapseUSecRealtime", "--value").stdout
    assert re.fullmatch(r"\w{3} \d{4}-\d{2}-\d{2} 03:15:00 \S+\n", next_elapse), next_elapse
    assert "job.timer" in systemd("list-timers").stdout
    assert not (tmp_path / "ran").exists()

    disabled = systemd("disable", "job.timer")
    assert disabled.returncode == 0
    assert systemd("is-enabled", "--quiet", "job.timer").returncode == 1


def test_unknown_unit_is_an_error(systemd):
    result = systemd("start", "nothing")
    assert result.returncode == 5
    assert "nothing.service not found" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to User= needs root")
def test_user_and_logs_directory(systemd, tmp_path):
    out = tmp_path / "who"
    systemd.unit(
        "app.service",
        "[Service]\nType=oneshot\nUser=nobody\nLogsDirectory=fake-systemctl-test\n"
        "ExecStart=/usr/bin/id -un\n"
        f"ExecStart=/bin/sh -c 'echo $LOGS_DIRECTORY'\nStandardOutput=append:{out}\n",
    )
    assert systemd("start", "app").returncode == 0
    logs = tmp_path / "log" / "fake-systemctl-test"
    assert out.read_text() == f"nobody\n{logs}\n"
    assert logs.is_dir() and logs.owner() == "nobody"


def test_a_service_calling_systemctl_reaches_the_stand_in(systemd, tmp_path, monkeypatch):
    # healthcheck.sh and restore.sh call systemctl from inside a unit: they must get this stand-in.
    wrapper = tmp_path / "bin"
    wrapper.mkdir()
    (wrapper / "systemctl").write_text(f'#!/bin/sh\nexec {PYTHON} {FAKE} "$@"\n')
    (wrapper / "systemctl").chmod(0o755)
    out = tmp_path / "seen"
    systemd.unit("other.service", "[Service]\nExecStart=/bin/sleep 300\n")
    systemd.unit(
        "probe.service",
        f"[Service]\nType=oneshot\nExecStart=/bin/sh -c 'systemctl is-active other > {out}'\n",
    )
    monkeypatch.setenv("FAKE_SYSTEMD_BIN", str(wrapper))
    assert systemd("start", "other").returncode == 0
    assert systemd("start", "probe").returncode == 0
    assert out.read_text() == "active\n"
