"""Every command in the README is run: here, against the virtual board and a simulated
camera (the README's /dev/ttyACM0 and /dev/ttyUSB0 become their ptys), in a folder of
its own; or by the test or CI step named in ELSEWHERE; or it is marked "# needs hardware"
in the README itself. A command added to the README without one of these fails."""
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, micropython, mnist_dir

README = os.path.join(ROOT, "README.md")
# command (as the README writes it) -> where it is run
ELSEWHERE = {
    "make demo": "tests/test_cli.py::test_demo_rashid_the_books_network_end_to_end (gentlenet demo), "
                 ".ci/pi-zero/run (make demo)",
    "make test": ".ci/run",
    "make setup SYSTEM_SITE=1": ".ci/pi-system/run (make test-pi-system)",
    "gentlenet train --resume out/model.resume.npz":
        "tests/test_user_day.py::test_a_killed_run_resumes_to_the_same_weights_bit_for_bit",
}


def commands():
    """[(command, needs_hardware)] from the README's sh blocks."""
    text = open(README).read()
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            cmd, _, comment = line.partition("  #")
            out.append((cmd.strip(), "needs hardware" in comment))
    return out


def test_every_readme_command_is_run_somewhere():
    cmds = commands()
    assert len(cmds) >= 10, cmds
    for cmd, hardware in cmds:
        if hardware or cmd in ELSEWHERE:
            continue
        assert cmd.startswith("gentlenet "), "%r: run it in test_the_readme_commands_run, or name where it runs" % cmd
    for cmd, where in ELSEWHERE.items():
        assert cmd in [c for c, _ in cmds], "ELSEWHERE names %r, which the README no longer has" % cmd
        for ref in re.findall(r"(tests/\w+\.py)::(\w+)", where):
            assert "def %s(" % ref[1] in open(os.path.join(ROOT, ref[0])).read(), "%s::%s is gone" % ref
        for path in re.findall(r"(\.ci/[\w/-]+)", where):
            assert os.path.exists(os.path.join(ROOT, path)), path


def test_the_readme_commands_run(tmp_path):
    """Each gentlenet command of the README, as written, with the ports replaced."""
    from firmware_tools import camsim, scene
    from firmware_tools.vboard import VirtualBoard

    shutil.copytree(os.path.join(ROOT, "docs", "samples"), str(tmp_path / "docs" / "samples"))
    exe = os.path.join(os.path.dirname(sys.executable), "gentlenet")
    env = dict(os.environ, GENTLENET_DATA=mnist_dir())
    board = VirtualBoard(str(tmp_path / "board"), micropython=micropython()).start()
    sim = camsim.simulator("ucam")(scene.load_scene(mnist_dir(), seed=1, log=lambda *a: None)).start()
    ran = []
    try:
        for cmd, hardware in commands():
            if hardware or cmd in ELSEWHERE:
                continue
            argv = [a.replace("/dev/ttyACM0", board.port).replace("/dev/ttyUSB0", sim.port) for a in shlex.split(cmd)]
            if argv[1] == "watch":  # it serves until Ctrl-C: here, 5 frames on any free web port
                argv += ["--frames", "5", "--http-port", "0"]
            if argv[1] == "train" and "--from" in argv:  # fine-tuning: here, 3 epochs (tests/test_own_digits.py)
                argv += ["--epochs", "3"]
            # collect asks at the keyboard: Enter to every question (show, keep)
            r = subprocess.run([exe] + argv[1:], cwd=str(tmp_path), env=env, capture_output=True, text=True,
                               timeout=600, input="\n" * 400 if argv[1] == "collect" else None)
            assert r.returncode == 0, "%s\n%s%s" % (cmd, r.stdout, r.stderr)
            ran.append((cmd, r.stdout + r.stderr))
    finally:
        sim.stop()
        board.stop()
    said = dict(ran)
    assert "7_desk.png: 7" in said["gentlenet predict docs/samples/7_desk.png docs/samples/3_desk.png"]
    assert "1000 test digits, 0 mismatches" in said["gentlenet parity --port /dev/ttyACM0"]
    assert len(os.listdir(str(tmp_path / "out" / "frames"))) == 10
    assert len(os.listdir(str(tmp_path / "my_digits"))) == 50
    assert "5 frames shown" in said["gentlenet watch --camera /dev/ttyUSB0 --board /dev/ttyACM0"]
    assert "your digits (held out)      10 digits" in said["gentlenet train --from shipped --data my_digits --out "
                                                          "out/mine.npz"]
    assert len(ran) >= 6, [c for c, _ in ran]


@pytest.mark.parametrize("cmd", [c for c, hw in commands() if hw])
def test_hardware_commands_are_only_what_needs_a_board(cmd):
    assert cmd.split()[0] in ("cp", "pip", "python"), cmd
    assert "esptool" in cmd or ".uf2" in cmd, cmd
