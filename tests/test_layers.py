"""The layers, checked by parsing every import (also those inside functions):
device <- trainer <- firmware_tools <- gentlenet. device/ imports nothing from the host
(it runs on a board), trainer/ nothing from firmware_tools/ or gentlenet/, firmware_tools/
nothing from gentlenet/ (the command composes them; nothing imports it)."""
import ast
import os
import re

from conftest import ROOT

RANK = {"device": 0, "trainer": 1, "firmware_tools": 2, "gentlenet": 3}


def imports(path):
    """The top-level package of every module that `path` imports."""
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module.split(".")[0], node.lineno


def wrong_arrows(root):
    bad = []
    for pkg, rank in RANK.items():
        for folder, _, files in os.walk(os.path.join(root, pkg)):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(folder, f)
                    for name, line in imports(path):
                        if name in RANK and RANK[name] > rank:
                            bad.append("%s:%d imports %s" % (os.path.relpath(path, root), line, name))
    return bad


def test_no_import_runs_back_up_the_layers():
    assert wrong_arrows(ROOT) == []


def test_a_wrong_arrow_is_found(tmp_path):
    for pkg in RANK:
        (tmp_path / pkg).mkdir()
    (tmp_path / "trainer" / "x.py").write_text("def f():\n    from firmware_tools import flash\n")
    (tmp_path / "device" / "y.py").write_text("import trainer.qformat\n")
    assert sorted(wrong_arrows(
        str(tmp_path))) == ["device/y.py:1 imports trainer", "trainer/x.py:2 imports firmware_tools"]


ONBOARD = os.path.join("firmware_tools", "onboard")


def onboard_problems(root):
    """firmware_tools/onboard/ is MicroPython's side: its scripts import the device's
    modules and each other, never the host's packages; no host module imports them."""
    scripts = {f[:-3] for f in os.listdir(os.path.join(root, ONBOARD)) if f.endswith(".py")}
    bad = []
    for folder, _, files in os.walk(root):
        if os.sep + "." in folder or "tests" in os.path.relpath(folder, root).split(os.sep):
            continue
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(folder, f)
            rel = os.path.relpath(path, root)
            inside = rel.startswith(ONBOARD + os.sep)
            for name, line in imports(path):
                if inside and name in RANK:
                    bad.append("%s:%d imports %s (onboard code runs on MicroPython)" % (rel, line, name))
                if not inside and (name in scripts or name == "onboard"):
                    bad.append("%s:%d imports onboard's %s" % (rel, line, name))
    return bad


def test_onboard_code_stays_on_board():
    assert os.path.isdir(os.path.join(ROOT, ONBOARD))
    assert onboard_problems(ROOT) == []


def test_an_onboard_import_from_the_host_is_found(tmp_path):
    (tmp_path / ONBOARD).mkdir(parents=True)
    (tmp_path / ONBOARD / "run_x.py").write_text("import trainer\n")
    (tmp_path / "firmware_tools" / "x.py").write_text("import run_x\n")
    assert sorted(onboard_problems(str(tmp_path))) == [
        "firmware_tools/onboard/run_x.py:1 imports trainer (onboard code runs on MicroPython)",
        "firmware_tools/x.py:1 imports onboard's run_x"]


def test_no_line_over_120_characters():
    """Code and build files read in one screen width (Markdown tables may be wider)."""
    long = []
    for folder, _, files in os.walk(ROOT):
        rel = os.path.relpath(folder, ROOT)
        if rel.split(os.sep)[0].startswith(".") and rel != "." and not rel.startswith(".ci"):
            continue
        if rel.split(os.sep)[0] in ("out", "build") or "egg-info" in rel:
            continue
        for f in files:
            if f.endswith(".py") or f in ("Makefile", "run"):
                path = os.path.join(folder, f)
                for n, line in enumerate(open(path, encoding="utf-8"), 1):
                    if len(line.rstrip("\n")) > 120:
                        long.append("%s:%d (%d)" % (os.path.relpath(path, ROOT), n, len(line.rstrip("\n"))))
    assert long == []


def test_every_backend_has_its_kernels_and_goes_to_the_board():
    """device/gnet.py's BACKENDS is the one list: each backend, the reference loops too, is
    device/gnet_<name>.py with the kernel interface (gather; accumulate, or a fused dense
    with its load part LOAD), and a row in device/manifest.py (so that `gentlenet flash`
    sends it, and its load part)."""
    from device import gnet, manifest

    sent = {name for name, _ in manifest.FILES}
    assert gnet.BACKENDS[-1] == "python"
    for b in gnet.BACKENDS:
        path = os.path.join(ROOT, "device", "gnet_%s.py" % b)
        src = open(path).read()
        for name in ("def gather(", "RAW = ", "SPARSE = "):
            assert name in src, (b, name)
        load = re.search(r'^LOAD = "(\w+)"', src, re.M)
        if load:
            assert "def dense(" in src, b
            assert load.group(1) + ".py" in sent, b
        else:
            assert "def accumulate(" in src, b
        assert os.path.basename(path) in sent, b
