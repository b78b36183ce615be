"""What a simulated container answers to an exec (`simulator.container_shell`), without a server."""

from __future__ import annotations

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
