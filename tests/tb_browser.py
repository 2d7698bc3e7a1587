"""Real components for the plugin's end-to-end tests: a TensorBoard server process with the
Advisor plugin, and a headless Chromium driven over the DevTools protocol (a pipe: stdlib only)."""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

# Loads the plugin through TensorBoard's entry point when the installed distribution declares it
# (CI: pip install -e .), else adds it (a source checkout run without installing).
LAUNCHER = """
import sys
from tensorboard import default, program
plugins = default.get_plugins()
if not any(getattr(p, "plugin_name", None) == "advisor" for p in plugins):
    from advisor.tb_plugin import AdvisorPlugin
    plugins.append(AdvisorPlugin)
    print("advisor-plugin: added (no installed entry point)", file=sys.stderr, flush=True)
else:
    print("advisor-plugin: from the tensorboard_plugins entry point", file=sys.stderr, flush=True)
tb = program.TensorBoard(plugins=plugins)
tb.configure(argv=sys.argv)
sys.exit(tb.main())
"""
URL_LINE = re.compile(r"TensorBoard \S+ at (http://\S+?:(\d+)/)")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
)


class TensorBoardServer:
    """``tensorboard --logdir LOGDIR --port 0`` in a subprocess; the URL comes from its stderr."""

    def __init__(self, logdir: str, *args: str, timeout: float = 90.0) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
        cmd = [sys.executable, "-c", LAUNCHER, "--logdir", logdir, "--port", "0", "--host", "127.0.0.1", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.log: list[str] = []
        found: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            for line in self.proc.stderr:
                self.log.append(line)
                m = URL_LINE.search(line)
                if m:
                    found.put(m.group(1))

        threading.Thread(target=pump, daemon=True).start()
        try:
            self.url = found.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise RuntimeError("tensorboard did not start:\n" + "".join(self.log[-30:])) from None

    def get(self, path: str, timeout: float = 60.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


class Chromium:
    """Headless Chromium with the DevTools protocol on a pipe (fd 3 in, fd 4 out; NUL-separated JSON)."""

    def __init__(self, binary: str, width: int = 1400, height: int = 1000) -> None:
        self.profile = tempfile.mkdtemp(prefix="advisor-chromium-")
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()

        def wire() -> None:  # in the child, before exec: the pipe ends where Chromium expects them
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        args = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "--remote-debugging-pipe", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=wire, close_fds=False)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._id = 0
        self._replies: queue.Queue[dict] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height, deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            os.close(self._w)
            shutil.rmtree(self.profile, ignore_errors=True)
            raise

    def _pump(self) -> None:
        buf = b""
        with os.fdopen(self._r, "rb", buffering=0) as fh:
            while chunk := fh.read(65536):
                buf += chunk
                *msgs, buf = buf.split(b"\0")
                for m in msgs:
                    msg = json.loads(m)
                    if "id" in msg:
                        self._replies.put(msg)

    def call(self, method: str, session: bool = False, timeout: float = 30.0, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self._replies.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"chromium did not answer {method} within {timeout:.0f}s (exit code {self.proc.poll()})") from None
            if reply["id"] == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", session=True, url=url)

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        return res.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 60.0):
        """Poll ``expression`` until it is truthy; return its value (None on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        return None

    def screenshot(self, path: str) -> None:
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        shutil.rmtree(self.profile, ignore_errors=True)


# Text and readiness of every same-origin frame, through shadow roots (TensorBoard's UI nests the
# plugin's iframe inside its components).
FRAMES_JS = r"""
(() => {
  const out = [];
  const visit = (root) => {
    for (const f of root.querySelectorAll('iframe')) {
      try {
        const d = f.contentDocument;
        if (d && d.body) { out.push({ready: d.body.dataset.ready || '', text: d.body.innerText, src: f.src}); visit(d); }
      } catch (e) {}
    }
    for (const e of root.querySelectorAll('*')) if (e.shadowRoot) visit(e.shadowRoot);
  };
  visit(document);
  const done = out.filter((f) => f.ready === '1');
  return done.length ? done : null;
})()
"""
