# main.py on the board: serve the host (device/PROTOCOL.md). Ctrl-C returns to the REPL.
import app

app.main()
