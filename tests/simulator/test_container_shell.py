"""What a simulated container answers to an exec (`simulator.container_shell`), without a server."""

from __future__ import annotations

import io
import tarfile

import pytest

from simulator.container_shell import STDERR, STDOUT, Container, ExecutableNotFound, Shell

CONTAINER = Container(
    hostname="web-0",
    env=[("PATH", "/bin"), ("GREETING", "hello")],
    files={"/etc/hostname": "web-0\n", "/etc/settings/mode": "fast", "/etc/settings/size": "3"},
)


def _text(output: list[tuple[int, bytes]], channel: int) -> str:
    return "".join(data.decode() for ch, data in output if ch == channel)


def test_a_command_runs_once_and_ends_with_its_exit_code() -> None:
    shell = Shell(["printenv", "GREETING", "MISSING"], CONTAINER, stdin=False)
    output = shell.start()
    assert (shell.finished, shell.exit_code, _text(output, STDOUT)) == (True, 1, "hello\n")
    listed = Shell(["ls", "/etc/settings"], CONTAINER, stdin=False)
    assert _text(listed.start(), STDOUT) == "mode\nsize\n"
    echoed = Shell(["echo", "-n", "a", "b"], CONTAINER, stdin=False)
    assert _text(echoed.start(), STDOUT) == "a b"


def test_sh_c_runs_each_statement_until_exit() -> None:
    shell = Shell(["/bin/sh", "-c", "hostname; nosuch; exit 7; echo never"], CONTAINER, stdin=False)
    output = shell.start()
    assert _text(output, STDOUT) == "web-0\n"
    assert _text(output, STDERR) == "sh: nosuch: not found\n"
    assert (shell.finished, shell.exit_code) == (True, 7)


def test_an_interactive_shell_reads_lines_as_they_come_and_a_tty_has_one_stream() -> None:
    shell = Shell(["sh"], CONTAINER, stdin=True, tty=True)
    assert _text(shell.start(), STDOUT) == "/ # "
    assert _text(shell.feed(b"cat /etc/set"), STDOUT) == "cat /etc/set"  # echoed; nothing runs yet
    output = shell.feed(b"tings/mode\rcat /nowhere\r")
    # The terminal echoes what was typed as it arrives (both lines), with CR LF line ends.
    assert _text(output, STDOUT) == (
        "tings/mode\r\ncat /nowhere\r\nfast/ # cat: can't open '/nowhere': No such file or directory\r\n/ # "
    )
    assert _text(output, STDERR) == ""
    shell.feed(b"exit\r")
    assert (shell.finished, shell.exit_code) == (True, 1)  # the last command's


def test_stdin_that_ends_ends_the_shell_and_cat_copies_it() -> None:
    shell = Shell(["sh"], CONTAINER, stdin=True)
    shell.start()
    assert _text(shell.end_of_input(), STDOUT) == "" and shell.finished
    cat = Shell(["cat"], CONTAINER, stdin=True)
    cat.start()
    assert _text(cat.feed(b"one\n"), STDOUT) == "one\n" and not cat.finished
    cat.end_of_input()
    assert (cat.finished, cat.exit_code) == (True, 0)


def test_a_program_the_container_does_not_have_is_not_started() -> None:
    with pytest.raises(ExecutableNotFound, match="redis-cli"):
        Shell(["redis-cli", "ping"], CONTAINER, stdin=False).start()


def test_tar_archives_what_kubectl_cp_copies_out_of_a_container() -> None:
    shell = Shell(["tar", "cf", "-", "/etc/settings"], CONTAINER, stdin=False)
    output = shell.start()
    assert (shell.finished, shell.exit_code) == (True, 0)
    # busybox names the members without the leading '/', and says so, as kubectl cp shows.
    assert _text(output, STDERR) == "tar: removing leading '/' from member names\n"
    archive = b"".join(data for channel, data in output if channel == STDOUT)
    with tarfile.open(fileobj=io.BytesIO(archive)) as read:
        files = {m.name: read.extractfile(m).read() for m in read.getmembers()}  # type: ignore[union-attr]
    assert files == {"etc/settings/mode": b"fast", "etc/settings/size": b"3"}
    missing = Shell(["tar", "cf", "-", "/nope"], CONTAINER, stdin=False)
    assert "tar: /nope: No such file or directory" in _text(missing.start(), STDERR)
    assert missing.exit_code == 1


def test_tar_extracts_what_kubectl_cp_copies_into_a_container_and_it_stays() -> None:
    payload = bytes(range(256)) * 300  # binary, and more than one WebSocket frame's worth
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("blob.bin")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    container = Container(hostname="web-0", env=[], files={})
    shell = Shell(
        ["tar", "--no-same-permissions", "--no-same-owner", "-xmf", "-", "-C", "/tmp"], container, stdin=True
    )
    assert shell.start() == [] and not shell.finished
    data = buffer.getvalue()
    for start in range(0, len(data), 4096):
        assert shell.feed(data[start : start + 4096]) == []
    shell.end_of_input()
    assert (shell.finished, shell.exit_code) == (True, 0)
    assert container.written == {"/tmp/blob.bin": payload}
    shown = Shell(["cat", "/tmp/blob.bin"], container, stdin=False).start()
    assert b"".join(data for channel, data in shown if channel == STDOUT) == payload
