"""What runs in a simulated container when someone execs into it: a few of busybox's commands.

The simulated clusters run no containers, so `kubectl exec` reaches this instead: enough of a shell
for what people exec for — `hostname`, `printenv`, `cat` of a mounted ConfigMap key, `echo`,
`sh -c '…; exit 3'`, an interactive `sh` fed on stdin, and `tar` for `kubectl cp` — with the
container's environment and files worked out from the pod as the kubelet would have made them, and
what was copied into it since. It does no I/O: a session feeds it stdin and sends what it answers on
the stdout and stderr channels.
"""

from __future__ import annotations

import io
import posixpath
import shlex
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field

STDOUT, STDERR = 1, 2
SHELLS = {"sh", "bash", "ash"}
ROOT_LISTING = "bin\ndev\netc\nhome\nproc\nroot\nsys\ntmp\nusr\nvar\n"


class ExecutableNotFound(Exception):
    """The command is not in the container: the runtime refuses to start it (no exit code)."""


@dataclass
class Container:
    """What a process in the container sees."""

    hostname: str
    env: list[tuple[str, str]]
    files: dict[str, str | bytes]  # absolute path -> contents
    # What was copied into the container (``tar x``): kept by the cluster while the pod lives.
    written: dict[str, str | bytes] = field(default_factory=dict)


@dataclass
class Shell:
    """One exec'd process. ``start()`` runs what needs no input; ``feed`` and ``end_of_input`` give
    it stdin. Each returns the output as (channel, bytes) pairs; ``finished`` and ``exit_code`` say
    when and how it ended."""

    argv: list[str]
    container: Container
    stdin: bool
    tty: bool = False
    finished: bool = False
    exit_code: int = 0
    _pending: str = ""
    _archive: bytearray | None = None  # ``tar x`` reads its archive from stdin until it ends
    _output: list[tuple[int, bytes]] = field(default_factory=list)

    def start(self) -> list[tuple[int, bytes]]:
        program = posixpath.basename(self.argv[0])
        if program in SHELLS and self.argv[1:2] == ["-c"]:
            self._script(" ".join(self.argv[2:3]))
            self.finished = True
        elif program in SHELLS:
            if not self.stdin:
                self.finished = True  # sh with nothing to read ends at once
            self._prompt()
        elif program == "cat" and len(self.argv) == 1 and self.stdin:
            pass  # copies stdin to stdout until it ends
        elif program == "tar" and _tar_arguments(self.argv[1:])[0] == "x" and self.stdin:
            self._archive = bytearray()
        else:
            self.exit_code = self._run(self.argv, in_shell=False)
            self.finished = True
        return self._take()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if self.finished:
            return []
        if self._archive is not None:
            self._archive += data
            return []
        text = data.decode(errors="replace")
        if posixpath.basename(self.argv[0]) == "cat":
            self._out(text)
            return self._take()
        if self.tty:
            # A terminal echoes what is typed (kubectl put the local one in raw mode) and ends lines
            # with CR LF.
            self._out(text.replace("\r", "\n"))
            text = text.replace("\r", "\n")
        self._pending += text
        while "\n" in self._pending and not self.finished:
            line, self._pending = self._pending.split("\n", 1)
            self._script(line)
            self._prompt()
        return self._take()

    def end_of_input(self) -> list[tuple[int, bytes]]:
        if not self.finished and self._archive is not None:
            self.exit_code = self._tar(self.argv[1:])
        if not self.finished:
            if self._pending.strip() and posixpath.basename(self.argv[0]) in SHELLS:
                self._script(self._pending)
            self.finished = True
        return self._take()

    # --- commands ------------------------------------------------------------------------------

    def _script(self, text: str) -> None:
        for line in text.replace(";", "\n").split("\n"):
            try:
                words = shlex.split(line)
            except ValueError as error:
                self._err(f"sh: syntax error: {error}\n")
                self.exit_code = 2
                continue
            if not words:
                continue
            if words[0] == "exit":
                self.exit_code = _number(words[1]) if len(words) > 1 else self.exit_code
                self.finished = True
                return
            self.exit_code = self._run(words, in_shell=True)

    def _run(self, words: list[str], *, in_shell: bool) -> int:
        program, args = posixpath.basename(words[0]), words[1:]
        command = self._commands().get(program)
        if command is None:
            if in_shell:
                self._err(f"sh: {words[0]}: not found\n")
                return 127
            raise ExecutableNotFound(words[0])
        return command(args)

    def _commands(self) -> dict[str, Callable[[list[str]], int]]:
        return {
            "echo": self._echo,
            "hostname": lambda args: self._out(self.container.hostname + "\n"),
            "printenv": self._printenv,
            "env": lambda args: self._printenv([]),
            "cat": self._cat,
            "ls": self._ls,
            "pwd": lambda args: self._out("/\n"),
            "whoami": lambda args: self._out("root\n"),
            "true": lambda args: 0,
            "false": lambda args: 1,
            "tar": self._tar,
        }

    def _echo(self, args: list[str]) -> int:
        newline = args[:1] != ["-n"]
        return self._out(" ".join(args[0 if newline else 1 :]) + ("\n" if newline else ""))

    def _printenv(self, names: list[str]) -> int:
        env = dict(self.container.env)
        if not names:
            return self._out("".join(f"{name}={value}\n" for name, value in env.items()))
        found = [env[name] for name in names if name in env]
        self._out("".join(f"{value}\n" for value in found))
        return 0 if len(found) == len(names) else 1

    def _cat(self, paths: list[str]) -> int:
        code = 0
        for path in paths:
            if path in self.container.files:
                self._write(self.container.files[path])
            else:
                self._err(f"cat: can't open '{path}': No such file or directory\n")
                code = 1
        return code

    def _ls(self, paths: list[str]) -> int:
        path = posixpath.normpath(paths[0]) if paths else "/"
        if path == "/":
            return self._out(ROOT_LISTING)
        if path in self.container.files:
            return self._out(path + "\n")
        prefix = path.rstrip("/") + "/"
        entries = sorted(
            {p[len(prefix) :].split("/")[0] for p in self.container.files if p.startswith(prefix)}
        )
        if not entries:
            self._err(f"ls: {path}: No such file or directory\n")
            return 1
        return self._out("".join(f"{entry}\n" for entry in entries))

    def _tar(self, args: list[str]) -> int:
        """busybox's ``tar cf - PATH...`` (the archive on stdout: ``kubectl cp POD:PATH DEST``) and
        ``tar xf - [-C DIR]`` (the archive from stdin: ``kubectl cp FILE POD:PATH``); ``m`` and
        kubectl's ``--no-same-*`` flags taken, compression not."""
        mode, directory, paths = _tar_arguments(args)
        if mode == "c":
            return self._tar_create(paths, directory)
        if mode == "x":
            return self._tar_extract(bytes(self._archive or b""), directory)
        self._err("tar: need to specify one of 'c' or 'x'\n")
        return 1

    def _tar_create(self, paths: list[str], directory: str) -> int:
        files, code, buffer = self.container.files, 0, io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
            for path in paths:
                full = posixpath.normpath(posixpath.join(directory, path))
                found = sorted(p for p in files if p == full or p.startswith(full.rstrip("/") + "/"))
                if not found:
                    self._err(f"tar: {path}: No such file or directory\n")
                    code = 1
                    continue
                if path.startswith("/"):
                    self._err("tar: removing leading '/' from member names\n")
                for each in found:
                    data = _bytes(files[each])
                    name = each.lstrip("/") if path.startswith("/") else posixpath.relpath(each, directory)
                    info = tarfile.TarInfo(name)
                    info.size, info.mode = len(data), 0o644
                    archive.addfile(info, io.BytesIO(data))
        self._output.append((STDOUT, buffer.getvalue()))
        return code

    def _tar_extract(self, data: bytes, directory: str) -> int:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
                for member in archive.getmembers():
                    extracted = archive.extractfile(member) if member.isfile() else None
                    if extracted is not None:
                        path = posixpath.normpath(posixpath.join(directory, member.name))
                        self.container.files[path] = self.container.written[path] = extracted.read()
        except tarfile.TarError as error:
            self._err(f"tar: {error}\n")
            return 1
        return 0

    # --- output --------------------------------------------------------------------------------

    def _write(self, content: str | bytes) -> None:
        if isinstance(content, str):
            self._out(content)
        elif content:
            self._output.append((STDOUT, content))

    def _prompt(self) -> None:
        if self.tty and not self.finished:
            self._out("/ # ")

    def _out(self, text: str) -> int:
        if text:
            self._output.append((STDOUT, (text.replace("\n", "\r\n") if self.tty else text).encode()))
        return 0

    def _err(self, text: str) -> None:
        # A terminal has one stream: with a tty, kube-apiserver sends no stderr channel.
        if self.tty:
            self._out(text)
        else:
            self._output.append((STDERR, text.encode()))

    def _take(self) -> list[tuple[int, bytes]]:
        taken, self._output = self._output, []
        return taken


def _tar_arguments(args: list[str]) -> tuple[str, str, list[str]]:
    """tar's mode (``c``, ``x`` or "" for neither), its ``-C`` directory and its paths, from
    bundled options (``cf``, ``-xmf``) whose ``f`` takes the next word (the archive: ``-``)."""
    mode, directory, paths = "", "/", []
    words = iter(enumerate(args))
    for position, word in words:
        if word == "-C":
            directory = next(words, (0, "/"))[1]
        elif word.startswith("--"):
            continue
        elif (word.startswith("-") and word != "-") or position == 0:  # the first word needs no dash
            letters = word.lstrip("-")
            mode = "c" if "c" in letters else "x" if "x" in letters else mode
            if "f" in letters:
                next(words, None)
        else:
            paths.append(word)
    return mode, directory, paths


def _bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


def _number(text: str) -> int:
    try:
        return int(text) & 0xFF
    except ValueError:
        return 2
