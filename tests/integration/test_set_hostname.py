"""scripts/set-hostname.sh under dash (and busybox sh when installed) against the sandbox's instance metadata.

Each run gets a fake host: a HOSTNAME_ROOT with etc/hostname and etc/hosts, and a PATH that holds only the tools
the script may use plus stand-ins for hostnamectl and hostname that record their arguments. The machine's own
hostname and /etc are never reachable. Nothing here measures time: waits are for conditions, with generous limits.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.imds import ImdsRequest
from tests.support.imds import eventually, launch_instance, tag

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "set-hostname.sh"
TAGS = "/latest/meta-data/tags/instance"
# Everything the script may run besides the shell's builtins and the HTTP client (its header says the same).
UTILITIES = ("awk", "cat", "date", "grep", "mktemp", "rm", "sleep", "uname")
LONG_WAIT = 120.0  # a limit for a slow, loaded machine, never an expectation
DEBIAN_HOSTS = "127.0.0.1\tlocalhost\n127.0.1.1\tip-10-0-1-5.ec2.internal ip-10-0-1-5\n::1\tlocalhost ip6-localhost\n"

HOSTNAMECTL = """\
#!/bin/sh
# stand-in for hostnamectl: records its arguments, then does what set-hostname does to a host
printf '%s\\n' "$*" >>"$STANDIN_STATE/hostnamectl.calls"
[ "$1" = set-hostname ] && [ "$#" -eq 2 ] || exit 1
printf '%s\\n' "$2" >"$HOSTNAME_ROOT/etc/hostname"
printf '%s\\n' "$2" >"$STANDIN_STATE/kernel-hostname"
"""
HOSTNAME = """\
#!/bin/sh
# stand-in for hostname: prints the recorded kernel hostname, or records its arguments and sets it
if [ "$#" -eq 0 ]; then cat "$STANDIN_STATE/kernel-hostname"; exit; fi
printf '%s\\n' "$*" >>"$STANDIN_STATE/hostname.calls"
printf '%s\\n' "$1" >"$STANDIN_STATE/kernel-hostname"
"""


def busybox_unusable() -> str | None:
    """Why busybox cannot run these tests here, or None."""
    busybox = shutil.which("busybox")
    if busybox is None:
        return "busybox is not installed: set-hostname.sh is checked under dash only"
    # A busybox built to prefer its own applets would run its real `hostname` instead of the stand-in.
    probe = subprocess.run(
        [busybox, "sh", "-c", "PATH=/nonexistent; command -v hostname"], check=False, capture_output=True
    )
    if probe.returncode == 0:
        return "this busybox sh runs its own applets before PATH, so the stand-ins cannot stand in"
    return None


@dataclass(frozen=True)
class Shell:
    """How to run the script, and where the utilities on its PATH come from."""

    name: str
    argv: tuple[str, ...]
    utility: Callable[[str], str]


def system_utility(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


@pytest.fixture(params=["dash", "busybox"])
def shell(request: pytest.FixtureRequest) -> Shell:
    if request.param == "dash":
        return Shell("dash", (system_utility("dash"),), system_utility)
    reason = busybox_unusable()
    if reason is not None:
        pytest.skip(reason)
    busybox = system_utility("busybox")
    return Shell("busybox", (busybox, "sh"), lambda _name: busybox)  # busybox runs the applet its link names


@dataclass
class Host:
    """A fake host for one run: its files, its PATH and what the stand-ins recorded."""

    root: Path
    bin: Path
    state: Path
    shell: Shell
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def hosts(self) -> Path:
        return self.root / "etc" / "hosts"

    @property
    def hostname_file(self) -> Path:
        return self.root / "etc" / "hostname"

    def calls(self, tool: str) -> list[str]:
        log = self.state / f"{tool}.calls"
        return log.read_text().splitlines() if log.exists() else []

    def kernel_hostname(self) -> str:
        return (self.state / "kernel-hostname").read_text().strip()

    def snapshot(self) -> dict[str, str]:
        """Every file the script or the stand-ins may change."""
        files = [self.hosts, self.hostname_file, *sorted(self.state.iterdir())]
        return {str(path): path.read_text() for path in files if path.exists()}

    def env(self, endpoint: str, **extra: str) -> dict[str, str]:
        return {
            "PATH": str(self.bin),
            "HOME": str(self.state),  # no user's curlrc or wgetrc
            "TMPDIR": str(self.state),
            "IMDS_ENDPOINT": endpoint,
            "HOSTNAME_ROOT": str(self.root),
            "STANDIN_STATE": str(self.state),
            **extra,
        }

    def start(self, endpoint: str, *args: str, **extra_env: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [*self.shell.argv, str(SCRIPT), *args],
            env=self.env(endpoint, **extra_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        """Ends any run a failed test left waiting."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.communicate()

    def run(self, endpoint: str, *args: str, **extra_env: str) -> Run:
        return finish(self.start(endpoint, *args, **extra_env))


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def finish(process: subprocess.Popen[str]) -> Run:
    try:
        stdout, stderr = process.communicate(timeout=LONG_WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(f"set-hostname.sh still running after {LONG_WAIT}s: {stdout!r} {stderr!r}") from None
    return Run(process.returncode, stdout, stderr)


def make_host(
    tmp_path: Path, shell: Shell, *, http_client: str = "curl", client_path: str | None = None, hostnamectl: bool = True
) -> Host:
    root, bin_dir, state = tmp_path / "root", tmp_path / "bin", tmp_path / "state"
    for directory in (root / "etc", bin_dir, state):
        directory.mkdir(parents=True)
    (root / "etc" / "hostname").write_text("ip-10-0-1-5\n")
    (root / "etc" / "hosts").write_text(DEBIAN_HOSTS)
    (state / "kernel-hostname").write_text("ip-10-0-1-5\n")
    for name in UTILITIES:
        (bin_dir / name).symlink_to(shell.utility(name))
    (bin_dir / http_client).symlink_to(client_path or system_utility(http_client))
    stand_ins = {"hostname": HOSTNAME, **({"hostnamectl": HOSTNAMECTL} if hostnamectl else {})}
    for name, text in stand_ins.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return Host(root, bin_dir, state, shell)


@pytest.fixture
def host(tmp_path: Path, shell: Shell) -> Iterator[Host]:
    made = make_host(tmp_path, shell)
    yield made
    made.stop_all()


@pytest.fixture
def imds_calls(sandbox: Sandbox) -> Iterator[Callable[[str], list[ImdsRequest]]]:
    """The instance's metadata requests; after each test, proof that none was an IMDSv1 call."""
    seen: set[str] = set()

    def calls(instance_id: str) -> list[ImdsRequest]:
        seen.add(instance_id)
        return sandbox.imds.journal.records(instance_id)

    yield calls
    for instance_id in seen:
        without_token = [r for r in calls(instance_id) if r.method == "GET" and not r.token_presented]
        assert without_token == [], f"IMDSv1 calls (GET without a token): {without_token}"


def gets(records: list[ImdsRequest], path: str) -> list[int]:
    return [r.status for r in records if r.method == "GET" and r.path == path]


# --------------------------------------------------------------------------------------------- naming
def test_a_tag_that_appears_after_a_delay_becomes_the_hostname(
    sandbox: Sandbox, host: Host, imds_calls: Callable[[str], list[ImdsRequest]]
) -> None:
    # GIVEN an instance with tags in metadata and IMDSv2 required, not yet named
    instance_id = launch_instance(sandbox)
    endpoint = sandbox.imds_endpoint(instance_id)
    # WHEN the helper runs and has polled for the tag at least once
    process = host.start(endpoint, "--timeout", "600")
    eventually(lambda: 404 in gets(imds_calls(instance_id), f"{TAGS}/Name"))
    # AND the naming function writes the Name tag
    tag(sandbox, instance_id, {"Name": "web-12-34"})
    run = finish(process)
    # THEN the hostname is set through hostnamectl, once, and /etc/hosts resolves it on one 127.0.1.1 line
    assert run.code == 0, run
    assert run.stdout == "set-hostname.sh: hostname set to web-12-34\n"
    assert host.calls("hostnamectl") == ["set-hostname web-12-34"]
    assert host.calls("hostname") == []
    assert host.hosts.read_text() == "127.0.0.1\tlocalhost\n127.0.1.1\tweb-12-34\n::1\tlocalhost ip6-localhost\n"
    assert host.kernel_hostname() == "web-12-34"
    # AND it read the tag with a token (the fixture checks that no GET went without one)
    assert gets(imds_calls(instance_id), f"{TAGS}/Name")[-1] == 200


def test_a_second_run_changes_nothing(sandbox: Sandbox, host: Host) -> None:
    # GIVEN a host whose hostname the helper has set
    instance_id = launch_instance(sandbox, tags={"Name": "web-12-34"})
    endpoint = sandbox.imds_endpoint(instance_id)
    assert host.run(endpoint).code == 0
    before = host.snapshot()
    # WHEN it runs again
    run = host.run(endpoint)
    # THEN it succeeds, says so, calls nothing and writes nothing
    assert run.code == 0, run
    assert run.stdout == "set-hostname.sh: hostname is already web-12-34; nothing changed\n"
    assert host.snapshot() == before
    assert host.calls("hostnamectl") == ["set-hostname web-12-34"]


def test_without_hostnamectl_it_writes_etc_hostname_and_runs_hostname(
    sandbox: Sandbox, tmp_path: Path, shell: Shell
) -> None:
    # GIVEN a host with no hostnamectl (only hostname) and a hosts file with no 127.0.1.1 line
    host = make_host(tmp_path, shell, hostnamectl=False)
    host.hosts.write_text("127.0.0.1\tlocalhost\n")
    instance_id = launch_instance(sandbox, tags={"Name": "db-0-7"})
    # WHEN the helper runs
    run = host.run(sandbox.imds_endpoint(instance_id))
    # THEN /etc/hostname holds the name, `hostname NAME` ran, and one 127.0.1.1 line was added
    assert run.code == 0, run
    assert host.hostname_file.read_text() == "db-0-7\n"
    assert host.calls("hostname") == ["db-0-7"]
    assert host.hosts.read_text() == "127.0.0.1\tlocalhost\n127.0.1.1\tdb-0-7\n"
    # AND a second run changes nothing
    before = host.snapshot()
    assert host.run(sandbox.imds_endpoint(instance_id)).code == 0
    assert host.snapshot() == before


def test_with_gnu_wget_and_no_curl_the_hostname_is_set(sandbox: Sandbox, tmp_path: Path) -> None:
    # GIVEN a host whose only HTTP client is GNU wget
    dash = Shell("dash", (system_utility("dash"),), system_utility)
    wget = system_utility("wget")
    if "--method" not in subprocess.run([wget, "--help"], check=False, capture_output=True, text=True).stdout:
        pytest.skip("the wget here is not GNU wget")
    host = make_host(tmp_path, dash, http_client="wget")
    instance_id = launch_instance(sandbox, tags={"Name": "web-5-6"})
    # WHEN the helper runs THEN it gets a token with wget and sets the hostname
    run = host.run(sandbox.imds_endpoint(instance_id))
    assert run.code == 0, run
    assert host.calls("hostnamectl") == ["set-hostname web-5-6"]
    records = sandbox.imds.journal.records(instance_id)
    assert [r.method for r in records][:1] == ["PUT"]
    assert all(r.token_presented for r in records if r.method == "GET")


def test_busybox_wget_alone_is_refused_before_any_request(sandbox: Sandbox, tmp_path: Path) -> None:
    reason = busybox_unusable()
    if reason is not None:
        pytest.skip(reason)
    busybox = system_utility("busybox")
    shell = Shell("busybox", (busybox, "sh"), lambda _name: busybox)
    host = make_host(tmp_path, shell, http_client="wget", client_path=busybox)
    instance_id = launch_instance(sandbox, tags={"Name": "web-5-6"})
    # WHEN the only HTTP client is busybox wget, which cannot send a PUT THEN the helper says so and stops
    run = host.run(sandbox.imds_endpoint(instance_id))
    assert run.code == 1
    assert "needs curl or GNU wget" in run.stderr
    assert sandbox.imds.journal.records(instance_id) == []


# ------------------------------------------------------------------------------------------------ failures
def test_metadata_tags_disabled_fails_after_a_single_attempt(
    sandbox: Sandbox, host: Host, imds_calls: Callable[[str], list[ImdsRequest]]
) -> None:
    # GIVEN a launch template with InstanceMetadataTags disabled (the instance has a Name tag all the same)
    instance_id = launch_instance(sandbox, tags_in_metadata="disabled", tags={"Name": "web-12-34"})
    before = host.snapshot()
    # WHEN the helper runs with a long timeout
    run = host.run(sandbox.imds_endpoint(instance_id), "--timeout", "600")
    # THEN it fails with one line that names the launch-template setting
    assert run.code == 1
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1
    assert "MetadataOptions.InstanceMetadataTags: enabled" in run.stderr and "404" in run.stderr
    # AND it asked once, did not poll, and changed nothing
    records = imds_calls(instance_id)
    assert [(r.method, r.path, r.status) for r in records] == [
        ("PUT", "/latest/api/token", 200),
        ("GET", f"{TAGS}/Name", 404),
        ("GET", f"{TAGS}/", 404),
    ]
    assert host.snapshot() == before


def test_a_tag_that_never_appears_fails_after_the_timeout(
    sandbox: Sandbox, host: Host, imds_calls: Callable[[str], list[ImdsRequest]]
) -> None:
    instance_id = launch_instance(sandbox)
    before = host.snapshot()
    # WHEN the Name tag never comes
    run = host.run(sandbox.imds_endpoint(instance_id), "--timeout", "2")
    # THEN it gives up with exit 1 and says what it waited for, having changed nothing
    assert run.code == 1
    assert "tag Name did not appear in instance metadata within 2 s" in run.stderr
    assert host.snapshot() == before
    assert set(gets(imds_calls(instance_id), f"{TAGS}/Name")) == {404}


@pytest.mark.parametrize("value", ["Web-1", "web server", "web_1", "-web", "web-", "web.example.com", "w" * 64])
def test_a_tag_value_that_is_not_a_host_label_is_refused(
    sandbox: Sandbox, host: Host, imds_calls: Callable[[str], list[ImdsRequest]], value: str
) -> None:
    instance_id = launch_instance(sandbox, tags={"Name": value})
    before = host.snapshot()
    run = host.run(sandbox.imds_endpoint(instance_id))
    # THEN exit 1, the reason on one line, and nothing set
    assert run.code == 1
    assert run.stderr.count("\n") == 1 and "not a host label" in run.stderr and "HOSTNAME_SAFE=true" in run.stderr
    assert host.snapshot() == before
    assert imds_calls(instance_id)


def test_the_longest_host_label_is_accepted(sandbox: Sandbox, host: Host) -> None:
    name = "a" + "0-" * 30 + "z9"  # 63 characters
    instance_id = launch_instance(sandbox, tags={"Name": name})
    run = host.run(sandbox.imds_endpoint(instance_id))
    assert run.code == 0, run
    assert host.calls("hostnamectl") == [f"set-hostname {name}"]


def test_another_tag_key_is_read_from_name_tag_key(sandbox: Sandbox, host: Host) -> None:
    instance_id = launch_instance(sandbox, tags={"Name": "Web Server", "Hostname": "web-7-8"})
    run = host.run(sandbox.imds_endpoint(instance_id), NAME_TAG_KEY="Hostname")
    assert run.code == 0, run
    assert host.calls("hostnamectl") == ["set-hostname web-7-8"]


# ------------------------------------------------------------------------------------------------ tokens
def test_a_token_that_expires_mid_wait_is_renewed(
    sandbox: Sandbox, host: Host, imds_calls: Callable[[str], list[ImdsRequest]]
) -> None:
    # GIVEN the helper waiting for the tag with a token it has already used
    instance_id = launch_instance(sandbox)
    process = host.start(sandbox.imds_endpoint(instance_id), "--timeout", "600")
    eventually(lambda: 404 in gets(imds_calls(instance_id), f"{TAGS}/Name"))
    # WHEN that token expires mid-wait
    expired_at = len(imds_calls(instance_id))
    assert sandbox.imds.expire_tokens(instance_id) >= 1
    eventually(lambda: _renewal_then_poll([(r.method, r.status) for r in imds_calls(instance_id)[expired_at:]]))
    # AND the tag appears
    tag(sandbox, instance_id, {"Name": "web-9-10"})
    run = finish(process)
    # THEN the helper took a new token and set the hostname, every GET with a token
    assert run.code == 0, run
    assert host.calls("hostnamectl") == ["set-hostname web-9-10"]


def _renewal_then_poll(steps: list[tuple[str, int]]) -> bool:
    """A 401, then a new token, then a tag poll answered with that token (404: not there yet)."""
    try:
        rejected = steps.index(("GET", 401))
        issued = steps.index(("PUT", 200), rejected)
        steps.index(("GET", 404), issued)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------------------- usage
@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--timeout", "soon"), {}, "--timeout must be a whole number of seconds"),
        (("--timeout",), {}, "--timeout needs a number of seconds"),
        (("--name", "web"), {}, "unknown argument '--name'"),
        ((), {"NAME_TAG_KEY": "Host Name"}, "NAME_TAG_KEY 'Host Name' cannot be read through instance metadata"),
        ((), {"NAME_TAG_KEY": "team/host"}, "NAME_TAG_KEY 'team/host' cannot be read through instance metadata"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    host: Host, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    run = host.run("http://127.0.0.1:9", *args, **env)
    assert run.code == 2
    assert message in run.stderr and run.stderr.count("\n") == 1
    assert host.calls("hostnamectl") == []


def test_help_prints_usage(host: Host) -> None:
    run = host.run("http://127.0.0.1:9", "--help")
    assert run.code == 0
    assert run.stdout.startswith("Usage: set-hostname.sh [--timeout SECONDS] [--help]")
    assert "MetadataOptions.InstanceMetadataTags: enabled" in run.stdout
