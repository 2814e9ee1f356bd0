"""A small headless-Chromium driver for the QA page tests (DevTools protocol, pure Python).

Starts Debian's ``chromium`` with ``--remote-debugging-port=0`` and a fresh profile, reads
the port from ``DevToolsActivePort`` and talks CDP over a minimal WebSocket client (stdlib
only: no websocket-client, selenium or playwright needed).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
)


def find_chromium() -> str | None:
    """Path of a Chromium executable, or None."""
    env = os.environ.get("MEDSEG_CHROMIUM")
    if env and Path(env).is_file():
        return env
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


class WebSocket:
    """Just enough RFC 6455 for CDP: text frames, client masking, fragmentation, ping."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        assert url.startswith("ws://"), url
        host_port, _, path = url[5:].partition("/")
        host, _, port = host_port.partition(":")
        self.sock = socket.create_connection((host, int(port or 80)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake failed")
            response += chunk
        head, _, self.buffer = response.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError(head.decode(errors="replace"))

    def send(self, text: str) -> None:
        payload = text.encode()
        header = bytearray([0x81])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes(header) + mask + masked)

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise ConnectionError("websocket closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def recv(self) -> str:
        message = b""
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x9:  # ping -> pong
                self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("websocket closed by peer")
            message += payload
            if b0 & 0x80:
                return message.decode()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Browser:
    """A headless Chromium with one page, driven over CDP.

    Attributes:
        console_errors: console errors, uncaught exceptions and failed loads seen so far.
        download_dir: where downloads land.
    """

    def __init__(self, executable: str | None = None, width: int = 1280, height: int = 900) -> None:
        executable = executable or find_chromium()
        if not executable:
            raise RuntimeError("no chromium found")
        self.profile = Path(tempfile.mkdtemp(prefix="medseg-chromium-"))
        self.download_dir = self.profile / "downloads"
        self.download_dir.mkdir()
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not start")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = WebSocket(f"ws://127.0.0.1:{port}{path}")
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.console_errors: list[str] = []
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(self.download_dir), "eventsEnabled": True}, session=False)
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    # --- protocol -------------------------------------------------------------------------
    def _handle_event(self, message: dict[str, Any]) -> None:
        self.events.append(message)
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.console_errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.console_errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            self.console_errors.append(f"load failed: {params.get('errorText')}")

    def call(self, method: str, params: dict[str, Any] | None = None, session: bool = True, timeout: float = 30.0) -> dict[str, Any]:
        """Send a CDP command and return its result (events that arrive meanwhile are kept)."""
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._handle_event(reply)
        raise TimeoutError(method)

    def wait_event(self, method: str, timeout: float = 15.0, since: int = 0, predicate: Any = None) -> dict[str, Any]:
        """Wait for an event (looking first at those seen from index ``since``)."""
        deadline = time.monotonic() + timeout
        checked = since
        while True:
            for event in self.events[checked:]:
                if event.get("method") == method and (predicate is None or predicate(event.get("params", {}))):
                    return event
            checked = len(self.events)
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.ws.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                self._handle_event(json.loads(self.ws.recv()))
            except (socket.timeout, TimeoutError):
                pass
            finally:
                self.ws.sock.settimeout(30.0)

    # --- page helpers ---------------------------------------------------------------------
    def goto(self, url: str) -> None:
        """Navigate and wait for the load event."""
        mark = len(self.events)
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired", since=mark)

    def evaluate(self, expression: str) -> Any:
        """Evaluate JS in the page and return its value (promises awaited)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"].get("text"))
        return result.get("result", {}).get("value")

    def press(self, key: str, navigates: bool = False) -> None:
        """Press a key (``"a"``, ``"ArrowRight"``, ``"Escape"``); wait for a navigation if asked."""
        mark = len(self.events)
        special = {"ArrowRight": 39, "ArrowLeft": 37, "Escape": 27, "Enter": 13, "Backspace": 8}
        if key in special:
            base = {"key": key, "code": key, "windowsVirtualKeyCode": special[key]}
            self.call("Input.dispatchKeyEvent", {"type": "rawKeyDown", **base})
        else:
            base = {"key": key, "code": f"Key{key.upper()}", "windowsVirtualKeyCode": ord(key.upper())}
            self.call("Input.dispatchKeyEvent", {"type": "keyDown", "text": key, **base})
        self.call("Input.dispatchKeyEvent", {"type": "keyUp", **base})
        if navigates:
            self.wait_event("Page.loadEventFired", since=mark)

    def type_text(self, text: str) -> None:
        """Type text into the focused element."""
        self.call("Input.insertText", {"text": text})

    def click(self, selector: str) -> None:
        """Click the centre of the element matching ``selector`` with real mouse events."""
        box = self.evaluate(
            f"(function(){{var e=document.querySelector({json.dumps(selector)});e.scrollIntoView({{block:'center'}});"
            "var r=e.getBoundingClientRect();return [r.left+r.width/2,r.top+r.height/2];})()"
        )
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def wait_download(self, timeout: float = 15.0, since: int = 0) -> Path:
        """Wait for a download started after event index ``since`` to complete; return the file."""
        begin = self.wait_event("Browser.downloadWillBegin", timeout, since)
        guid = begin["params"]["guid"]
        name = begin["params"]["suggestedFilename"]
        self.wait_event("Browser.downloadProgress", timeout, since, lambda p: p.get("guid") == guid and p.get("state") == "completed")
        for candidate in (self.download_dir / name, self.download_dir / guid):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(name)

    def screenshot(self, path: str | os.PathLike[str], full_page: bool = True) -> Path:
        """Save a PNG screenshot (the whole page by default)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self.call("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params.update({"captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 12000), "scale": 1}})
        data = self.call("Page.captureScreenshot", params, timeout=60)["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def pdf(self, path: str | os.PathLike[str]) -> Path:
        """Print the page to PDF (print CSS applies)."""
        data = self.call("Page.printToPDF", {"printBackground": False, "preferCSSPageSize": True}, timeout=60)["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Stop Chromium and remove its profile."""
        try:
            if getattr(self, "ws", None):
                self.ws.close()
        finally:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
