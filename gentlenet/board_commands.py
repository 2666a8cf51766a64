"""The board commands: board, flash, camera-sim, classify, parity, demo (the trainer's
model taken to a board: firmware_tools composed with trainer)."""
from __future__ import annotations

import json
import os
import re
import sys
import time

from gentlenet.common import (BOARD_DIR, BOARD_PORT, CAMERA_PORT, DEFAULT_GNET, DEFAULT_MODEL, OUT, SHIPPED_GNET,
                              SHIPPED_MLP, CommandError, Disagreement, board_model, heap_line, shown, load_gnet, log,
                              network_name, positive_int)
from gentlenet.model_commands import find_data, run_train, train_args


def cmd_demo(args):
    """The main job: find data, train the default network, evaluate, export, then the
    board's day (virtual board, flash, simulated camera, classify), summarise."""
    from firmware_tools import board_day
    from trainer import evaluate, export, report

    from trainer import train

    t0 = time.time()
    ds = find_data(args)
    if ds.test is None:
        raise CommandError("the demo evaluates on test digits and %s gives none: add --test-data" % ds.source)
    if not args.arch and not args.resume and not any(getattr(args, f) for f in ("rashid", "layers", "hidden_act",
                                                                                  "output", "no_bias")):
        args.arch = train.CNN  # the ConvNet, the better reader (weights/README.md); an MLP's flags ask for the MLP
    model, meta = run_train(args, ds)
    pred, probs = evaluate.predict(model, ds.test.images)
    m = evaluate.metrics(ds.test.labels, pred)
    print()
    print(evaluate.format_metrics(m, "test accuracy"))
    gnet_path = os.path.splitext(args.out)[0] + ".gnet"
    q, card = export.export(model, meta, ds.train, ds.test, gnet_path, source=args.out, log=log)
    pictures = []
    try:
        pictures = report.write_all(model, meta, ds.test, os.path.join(OUT, "report"), log=lambda s: None)
    except report.ReportError as e:  # no matplotlib: the demo still succeeds
        log(str(e))
    missing = board_day.missing()
    if missing:
        log("board: skipped: %s" % missing)
        day = None
    else:
        print()
        print("the board: virtual board -> flash -> simulated camera -> classify")
        day = board_day.run(gnet_path, ds.test.images, ds.test.labels, args.frames, BOARD_DIR,
                            os.path.join(OUT, "frames"), log=log)
    print()
    print("your handwriting: digits by writers outside MNIST (gentlenet writers %s), fine-tuned on (train --from)"
          % DEMO_STYLE)
    own = _demo_own_digits(model, meta, ds, args.out)
    print()
    print("summary")
    print("  data:     %s" % ds.source)
    if ds.note:
        print("  NOTE:     %s" % ds.note)
    name = network_name(model) if hasattr(model, "spec") else "%s, %s hidden" % (
        "-".join(map(str, model.sizes)), model.hidden)
    print("  network:  %s, %s output, %d epochs" % (name, model.architecture()["output"], meta["training"]["epochs"]))
    print("  accuracy: %.2f%% float, %.2f%% int8, on %d test digits" % (
        100 * m["accuracy"], 100 * card["accuracy"]["int8"], m["n"]))
    print("  model:    %s (float), %s (int8, %d bytes, for the board)" % (args.out, gnet_path, card["bytes"]))
    print("  heap:     %s" % heap_line(card["board_heap"]).replace("board heap: ", "", 1))
    print("  own:      %d %s digits learnt in %.0fs (%s): %d held-out ones by other writers %.1f%% -> %.1f%%, "
          "MNIST test %.2f%% -> %.2f%%; your own: gentlenet collect, then train --from %s --data my_digits" % (
              own["n"], DEMO_STYLE, own["seconds"], own["out"], own["held"], 100 * own["before"],
              100 * own["after"], 100 * own["mnist_before"], 100 * own["mnist_after"], args.out))
    if pictures:
        print("  pictures: %s" % ", ".join(pictures))
    if day is None:
        print("  board:    not run (%s)" % missing)
        print("            on a real board: gentlenet flash --port /dev/ttyACM0 --model %s, then" % gnet_path)
        print("            gentlenet classify --camera /dev/ttyUSB0 --board /dev/ttyACM0 --model %s" % gnet_path)
        print("  time:     %.1fs" % (time.time() - t0))
        return
    print("  board:    virtual board (%s, %s backend, model %s, %d bytes free); flashed %d bytes in %.1fs" % (
        day["runtime"], day["backend"], "streamed from flash" if day["stream"] else "in RAM", day["mem_free"],
        day["flash"]["wire_bytes"], day["flash"]["seconds"]))
    print("  camera:   simulated uCAM-II, %d frames of held-out digits as a desk camera sees them: %d read right "
          "(%.0f%%), %d equal to the host reference; %.1f ms per frame on the board" % (
              day["frames"], day["right"], 100 * day["right"] / day["frames"], day["agree"], day["ms_per_frame"]))
    print("  frames:   %s (each frame beside the 28x28 the network saw)" % day["save"])
    print("  time:     %.1fs" % (time.time() - t0))
    if day["agree"] != day["frames"]:
        raise Disagreement("the board and the host reference disagree on %d frames" % (day["frames"] - day["agree"]))


DEMO_STYLE = "continental"  # the demo's stand-in for a user's handwriting (trainer/writers.py)


def _demo_own_digits(model, meta, ds, source, n=100, held=300, epochs=10):
    """The demo's last loop: n digits in DEMO_STYLE (as `gentlenet collect` would gather
    from a user) fine-tune a copy of the trained network, as `train --from` does; accuracy
    before and after on `held` digits of the style by other writers and on the test set.
    The fine-tuned checkpoint goes to out/mine.npz."""
    from trainer import mlp, train, writers

    mine, other = writers.generate(DEMO_STYLE, n, seed=0), writers.generate(DEMO_STYLE, held, seed=1000)
    before = train.accuracy(model, other), train.accuracy(model, ds.test)
    log("  %d %s digits to learn from, %d by other writers held out: %.1f%% of those read right before" % (
        n, DEMO_STYLE, held, 100 * before[0]))
    epochs = min(epochs, int(meta["training"]["epochs"]))  # a quick demo (--epochs 1) fine-tunes quickly too
    t = time.time()
    tuned, history, used = train.finetune(model, mine, ds.train, meta.get("training"), {"epochs": epochs})
    out = os.path.join(OUT, "mine.npz")
    after = train.accuracy(tuned, other), train.accuracy(tuned, ds.test)
    mlp.save(tuned, out, {"training": used, "history": history, "finetune": {
        "from": os.path.basename(source), "style": DEMO_STYLE, "n": n,
        "tests": [{"name": "%s (held out)" % DEMO_STYLE, "n": held, "before": before[0], "after": after[0]},
                  {"name": "MNIST test", "n": len(ds.test), "before": before[1], "after": after[1]}]}})
    log("  after %d epochs (%.0fs): %.1f%% of the held-out ones, MNIST test %.2f%% -> %.2f%%; saved %s" % (
        epochs, time.time() - t, 100 * after[0], 100 * before[1], 100 * after[1], out))
    return {"n": n, "held": held, "before": before[0], "after": after[0], "mnist_before": before[1],
            "mnist_after": after[1], "seconds": time.time() - t, "out": out}


def cmd_board(args):
    """Run the virtual board until Ctrl-C: real MicroPython on a pty, a folder as its flash."""
    from firmware_tools.vboard import VirtualBoard

    board = VirtualBoard(args.flash, heapsize=args.heapsize, log=log).start()
    _serve_until_stopped(board, BOARD_PORT, board.port, [
        "virtual board on %s (flash: %s, heap %s)" % (board.port, board.flash, args.heapsize),
        "  mpremote connect %s resume repl      # its REPL" % board.port,
        "  gentlenet flash                         # copy the runtime and model to it"])


def _serve_until_stopped(thing, port_file, port_line, lines):
    """Say where `thing` (a virtual board, a simulated camera) is, in port_file and on
    stdout, then run until Ctrl-C or `kill`; stop it and remove port_file."""
    import signal

    os.makedirs(OUT, exist_ok=True)
    with open(port_file, "w") as f:
        f.write(port_line + "\n")
    print("\n".join(lines))
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))  # `kill` cleans up like Ctrl-C
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second `kill` must not cut the clean-up short
        thing.stop()
        try:
            with open(port_file) as f:
                ours = f.read().strip() == port_line.strip()
        except OSError:
            ours = False
        if ours:  # another board or camera started since then owns it now
            os.remove(port_file)


def _default_port():
    """The running virtual board, else one USB MicroPython board."""
    if os.path.exists(BOARD_PORT):
        port = open(BOARD_PORT).read().strip()
        if os.path.exists(port):
            return port
    from firmware_tools.ports import find_boards

    boards = find_boards()
    if len(boards) == 1:
        return boards[0]
    if not boards:
        raise CommandError("no board: start the virtual board (`gentlenet board`) or plug one in and pass --port")
    raise CommandError("several boards (%s): choose one with --port" % ", ".join(boards))


def cmd_flash(args):
    from firmware_tools import boardclient, flash
    from trainer import qformat

    port = args.port or _default_port()
    args.model = board_model(args.model)

    def choose(heap):
        # the shipped ConvNet where the board's heap holds it beside its frames, else the
        # shipped MLP (streamed from flash in less); a model the user named is sent as it is
        need = min(qformat.board_heap(qformat.load(SHIPPED_GNET))["app"].values())
        if heap >= need:
            return SHIPPED_GNET
        log("the board's heap (%d KB) cannot hold the shipped ConvNet beside its frames (about %d KB): flashing "
            "the shipped MLP %s instead" % (heap // 1024, need // 1024, shown(SHIPPED_MLP)))
        return SHIPPED_MLP

    r = flash.flash(port, args.model, show_progress=False if args.quiet else None,
                    compile=False if args.no_compile else None, choose=choose if args.model == SHIPPED_GNET else None)
    args.model = r["model"]
    if args.no_check:
        return
    # The app starts (soft reset) and says how it holds the model, or why it cannot: the
    # board's own numbers, not an estimate.
    c = boardclient.BoardClient(port, timeout=args.check_timeout)
    try:
        info = c.start().info()
    except boardclient.BoardError as e:
        log("WARNING: %s" % e)
        log("  " + heap_line(qformat.board_heap(qformat.load(args.model))))
        log("  a smaller model fits: gentlenet train --layers 784,32,10, then export and flash it")
        return
    finally:
        c.close()
    m = info.get("model") or {}
    how = re.sub(r", \d+ bytes of heap free", "", m.get("load") or ("streamed" if m.get("stream") else "in RAM"))
    log("the board's app holds the model %s; %s bytes of heap free now, backend %s" % (
        how, info.get("mem_free"), info.get("backend")))


def cmd_camera_sim(args):
    """Run a simulated serial camera until Ctrl-C: a pty that speaks uCAM-II, VC0706 or stream."""
    from firmware_tools import camsim, scene

    log("camera-sim: finding the digits to show and drawing the scene ...")
    sc = scene.load_scene(args.digits, seed=args.seed, log=log, look=args.look, shuffle=not args.in_order)
    sim = camsim.simulator(args.kind)(sc, start_index=args.start).start()
    _serve_until_stopped(sim, CAMERA_PORT, "%s %s" % (sim.port, args.kind), [
        "simulated %s camera on %s (%d digits to show)" % (args.kind, sim.port, len(sc)),
        "  gentlenet classify --camera %s --kind %s" % (sim.port, args.kind)])


def _camera_port(args):
    if args.camera:
        return args.camera, args.kind or "ucam"
    if os.path.exists(CAMERA_PORT):
        port, kind = open(CAMERA_PORT).read().split()
        if os.path.exists(port):
            return port, args.kind or kind
    raise CommandError("no camera: pass --camera PORT (or start one: gentlenet camera-sim)")


def _camera_and_board(args):
    """(camera, board or None with --local, the .gnet the board runs) for classify and
    collect; the caller closes both. A small board that `flash` gave the
    shipped MLP in place of the ConvNet is read with the MLP, and said so."""
    from firmware_tools import boardclient, cameras

    given = args.model
    args.model = board_model(args.model)
    q = load_gnet(args.model)
    port, kind = _camera_port(args)
    cam = cameras.open_camera(kind, port, args.baud, args.res)
    log("camera: %s on %s" % (cam.describe(), port))
    if args.local:
        return cam, None, q
    try:
        board = boardclient.BoardClient(args.board or _default_port(), log=log).start()
    except BaseException:
        cam.close()
        raise
    try:
        info = board.info()
        other = board.other_model(args.model, info)
        if other and not given and args.model == SHIPPED_GNET and not board.other_model(SHIPPED_MLP, info):
            log("the board runs the shipped MLP (the ConvNet did not fit it): classifying with %s" %
                shown(SHIPPED_MLP))
            args.model, q, other = SHIPPED_MLP, load_gnet(SHIPPED_MLP), None
        if other:
            raise CommandError(other)
        log("board: %s, %s backend, %s bytes free" % (info["runtime"], info["backend"], info["mem_free"]))
    except BaseException:
        board.close()
        cam.close()
        raise
    return cam, board, q


def cmd_classify(args):
    """Frames from a serial camera, classified on the board (or the host with --local)."""
    from firmware_tools import classify

    cam, board, q = _camera_and_board(args)
    try:
        result = classify.run(cam, args.frames, q, board, args.save, log=print)
    finally:
        for thing in (board, cam):
            if thing is not None:
                thing.close()
    if not result["frames"]:
        raise CommandError("no frame could be read from the camera (%d failed)" % result["failed"])
    if board is not None:
        print("%d frames classified on the board; %d equal to the host reference (scores and 28x28 input)" % (
            result["frames"], result["agree"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if board is not None and result["agree"] != result["frames"]:
        raise Disagreement("the board and the host reference disagree on %d frames" %
                           (result["frames"] - result["agree"]))


def cmd_collect(args):
    """Labelled digits from a serial camera: asked for one at a time, seen, kept or redone."""
    from firmware_tools import collect

    try:
        labels = [int(c) for c in args.digits] * args.rounds
    except ValueError:
        raise CommandError("--digits is a string of digits to ask for, like 0123456789, not %r" % args.digits) from None
    cam, board, q = _camera_and_board(args)
    try:
        kept = collect.run(cam, q, labels, args.out, board, prefix=collect.safe_prefix(args.prefix), log=log)
    finally:
        for thing in (board, cam):
            if thing is not None:
                thing.close()
    wrong = sum(1 for _, label, read in kept if str(read) != str(label))
    print("%d digits kept in %s (the network misread %d of them today); teach it your handwriting:" % (
        len(kept), args.out, wrong))
    print("  gentlenet train --from %s --data %s --out out/mine.npz" % (
        DEFAULT_MODEL if os.path.exists(DEFAULT_MODEL) else "shipped", args.out))


def cmd_watch(args):
    """The live view: a local web page of what the board sees, until Ctrl-C (or --frames)."""
    import threading

    from firmware_tools import boardclient, watch

    if args.board_camera:
        if args.local or args.camera:
            raise CommandError("--board-camera is the camera wired to the board: drop --local and --camera")
        args.model = board_model(args.model)
        q = load_gnet(args.model)
        cam, board = None, boardclient.BoardClient(args.board or _default_port(), log=log).start()
        try:
            other = board.other_model(args.model, board.info())
            if other:
                raise CommandError(other)
            board.camera(args.kind or "ucam", args.board_camera, args.baud or 115200, args.res or "80x60")
        except BaseException:
            board.close()
            raise
    else:
        cam, board, q = _camera_and_board(args)
    live, stop = watch.Live(), threading.Event()
    server = None
    try:
        grab = watch.grabber(cam, board, q, board_camera=bool(args.board_camera))
        try:
            server = watch.serve(live, args.host, args.http_port)
        except OSError as e:
            raise CommandError("cannot serve the live view on %s:%d (%s): try another --http-port" % (
                args.host, args.http_port, e)) from None
        print("live view: http://%s:%d/  (Ctrl-C to stop)" % (
            "localhost" if args.host in ("127.0.0.1", "localhost") else args.host, server.server_address[1]),
            flush=True)
        watch.capture(grab, live, stop, args.frames, log=log)
        print("%d frames shown" % live.frames)
    except KeyboardInterrupt:
        print("stopped after %d frames" % live.frames)
    finally:
        stop.set()
        if server is not None:
            server.shutdown()
            server.server_close()
        for thing in (board, cam):
            if thing is not None:
                thing.close()


def _camera_and_board_args(p, board_help, local_help):
    """collect's and watch's flags for a camera's protocol and a board (_camera_and_board)."""
    from firmware_tools import cameras

    p.add_argument("--kind", choices=list(cameras.KINDS), help="camera protocol (default: ucam, or the camera-sim's)")
    p.add_argument("--res", help="camera resolution, e.g. 80x60, 160x120 (default: the smallest)")
    p.add_argument("--baud", type=positive_int, help="camera baud rate (default: the kind's)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--board", metavar="PORT", help="%s (default: the running virtual board, else the USB board "
                       "found)" % board_help)
    where.add_argument("--local", action="store_true", help=local_help)
    p.add_argument("--model", help="the .gnet the board runs (default: %s once exported, else the shipped %s)" % (
        DEFAULT_GNET, shown(SHIPPED_GNET)))


def add_parsers(sub):
    """board, flash, camera-sim, classify, parity, demo."""
    from firmware_tools import board_parity, cameras, scene

    p = sub.add_parser("board", help="run the virtual board: real MicroPython on a pseudo-terminal",
                       description="example: gentlenet board --flash out/board")
    p.add_argument("--flash", default=BOARD_DIR, help="folder that is the board's filesystem (default: %(default)s)")
    p.add_argument("--heapsize", default="192k", help="MicroPython heap, like a Pico's (default: %(default)s)")
    p.set_defaults(func=cmd_board)
    p = sub.add_parser("flash", help="copy the runtime and a model to a board (atomic, only what changed)",
                       description="example: gentlenet flash --port /dev/ttyACM0 --model weights/mnist-784-100-10.gnet")
    p.add_argument("--port",
                   help="serial port or pty (default: the running virtual board, else the one USB board found)")
    p.add_argument("--model", help=".gnet model (default: %s once exported, else the shipped %s)" % (
        DEFAULT_GNET, shown(SHIPPED_GNET)))
    p.add_argument("--no-compile", action="store_true", help="send the runtime as .py source, never precompiled .mpy")
    p.add_argument("--no-check", action="store_true",
                   help="do not start the app afterwards to see that the model loads")
    p.add_argument("--check-timeout", type=float, default=30.0, metavar="S",
                   help="seconds the app may take to load the model after the flash (default: %(default)s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_flash)
    kinds = "; ".join("%s: %s" % (k, v.describe) for k, v in cameras.KINDS.items())
    p = sub.add_parser("camera-sim",
                       help="a simulated serial camera on a pseudo-terminal (%s)" % ", ".join(cameras.KINDS),
                       description="example: gentlenet camera-sim --kind ucam")
    p.add_argument("--kind", choices=list(cameras.KINDS), default="ucam", help="what it speaks (default: %(default)s): "
                   + kinds)
    p.add_argument(
        "--digits", metavar="PATH", help="digits to show: MNIST IDX folder (its test set), CSV, or image folder "
        "(default: the test digits gentlenet evaluates on)")
    p.add_argument("--look", choices=tuple(scene.LOOKS), default="desk", help="; ".join(
        "%s: %s" % (k, v[1]) for k, v in scene.LOOKS.items()) + " (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="scene seed: lighting, size, position, noise (default 0)")
    p.add_argument("--start", type=int, default=0, help="first digit to show (default 0)")
    p.add_argument("--in-order", action="store_true", help="show --digits in their order (a folder's: by name), "
                   "not shuffled: e.g. `gentlenet writers` digits, 0-9 in turn, for `gentlenet collect`")
    p.set_defaults(func=cmd_camera_sim)
    p = sub.add_parser("classify", help="classify frames from a serial camera on the board (or the host)",
                       description="example: gentlenet classify --camera /dev/ttyUSB0 --kind ucam --board /dev/ttyACM0 "
                       "--save out/frames")
    p.add_argument("--camera", metavar="PORT", help="camera port: /dev/ttyUSB0, a pty, loop:// "
                   "(default: the running camera-sim)")
    p.add_argument("--kind", choices=list(cameras.KINDS), help="camera protocol (default: ucam, or the camera-sim's): "
                   + kinds)
    p.add_argument("--res", help="camera resolution, e.g. 80x60, 160x120 (default: the smallest)")
    p.add_argument("--baud", type=positive_int, help="camera baud rate (default: the kind's, %s)" % ", ".join(
        "%s %d" % (k, v.baud) for k, v in cameras.KINDS.items()))
    where = p.add_mutually_exclusive_group()
    where.add_argument("--board", metavar="PORT", help="board port (default: the running virtual board, "
                       "else the one USB board found)")
    where.add_argument("--local", action="store_true", help="classify on this computer with the numpy reference")
    p.add_argument("--model", help="the .gnet model the board runs (default: %s once exported, else the shipped "
                   "%s)" % (DEFAULT_GNET, shown(SHIPPED_GNET)))
    p.add_argument("--frames", type=positive_int, default=10, help="frames to classify (default: %(default)s)")
    p.add_argument("--save", metavar="DIR", help="write each frame and the 28x28 the network saw as PNGs")
    p.add_argument("--json", metavar="FILE", help="write every frame's answer as JSON")
    p.set_defaults(func=cmd_classify)
    p = sub.add_parser("collect", help="collect your own labelled digits from a camera, to teach the network your "
                       "handwriting", description="example: gentlenet collect --camera /dev/ttyUSB0 --out my_digits/ "
                       "(then: gentlenet train --from out/model.npz --data my_digits/)")
    p.add_argument("--out", required=True, help="folder for the frames (the training data); their 28x28s go "
                   "beside it in <out>-2828/")
    p.add_argument("--digits", default="0123456789", help="the digits to ask for, in order (default: %(default)s)")
    p.add_argument("--rounds", type=positive_int, default=1, help="times through --digits (default: %(default)s)")
    p.add_argument("--prefix", default="mine", help="start of each file's name (default: %(default)s)")
    p.add_argument("--camera", metavar="PORT", help="camera port (default: the running camera-sim)")
    _camera_and_board_args(p, "board that reads each digit as you collect it, its 28x28 checked against the host's",
                           "no board: the 28x28 and the reading from this computer")
    p.set_defaults(func=cmd_collect)
    p = sub.add_parser("watch", help="see what the board sees, live, in a web page: the frame, the box found, the "
                       "28x28, the scores", description="example: gentlenet watch --camera /dev/ttyUSB0 --board "
                       "/dev/ttyACM0, then open http://localhost:8000/ (on a headless Pi: --host 0.0.0.0)")
    p.add_argument("--camera", metavar="PORT", help="camera on this computer (default: the running camera-sim)")
    p.add_argument("--board-camera", metavar="PORT", help="the camera is wired to the board, on this port of the "
                   "board's (a UART id such as 1, or 1,4,5 = id, tx, rx; a pty on the virtual board)")
    _camera_and_board_args(p, "board port", "no board: the network runs on this computer")
    p.add_argument("--host", default="127.0.0.1", help="address to serve the page on (default: %(default)s, this "
                   "computer only; 0.0.0.0 to reach it from a laptop)")
    p.add_argument("--http-port", type=int, default=8000, help="web port (default: %(default)s; 0: any free one)")
    p.add_argument("--frames", type=positive_int, help="stop after this many frames (default: until Ctrl-C)")
    p.set_defaults(func=cmd_watch)
    p = sub.add_parser("parity", help="does my board compute the same bytes? test digits on the board vs the numpy "
                       "reference", description="example: gentlenet parity --port /dev/ttyACM0 --model out/model.gnet "
                       "--n 1000")
    board_parity.add_args(p)
    p.set_defaults(func=cmd_parity)
    p = sub.add_parser("demo", help="the main job end to end: data, train, evaluate, export, virtual board, flash, "
                       "simulated camera, classify, summary", description="example: gentlenet demo (the ConvNet, "
                       "--arch cnn; the MLP with --layers 784,100,10; the book's network with --rashid)")
    train_args(p)
    p.add_argument("--frames", type=positive_int, default=20, help="camera frames to classify on the board "
                   "(default: %(default)s)")
    p.set_defaults(func=cmd_demo)


def cmd_parity(args):
    """Test digits on the board against the numpy reference (firmware_tools/board_parity.py)."""
    from firmware_tools import board_parity

    if board_parity.check(args):
        raise Disagreement("the board's answers differ from the numpy reference (mismatches above)")
