// The tagging page: receives clusters over a websocket and sends labels on hotkeys.
// Message types are documented in annotation/events.py. Text from the server is
// only ever set with textContent (never innerHTML): labels are user input.
(function () {
  "use strict";
  const root = document.getElementById("tagging");
  const taskId = root.dataset.taskId;
  const labels = JSON.parse(document.getElementById("labels-data").textContent);
  const byHotkey = new Map(labels.filter((l) => l.hotkey).map((l) => [l.hotkey.toLowerCase(), l]));
  const img = document.getElementById("image");
  const boxes = document.getElementById("boxes");
  const progress = document.getElementById("progress");
  const message = document.getElementById("message");
  const connection = document.getElementById("connection");
  let socket = null;
  let current = null; // the cluster.offered message being labelled
  let imageIndex = 0;
  let picked = new Set();
  let heartbeat = null;
  let retry = 0;
  // A label sent but not yet acknowledged. If the socket drops it is sent again
  // on reconnect: the server saves it once (a resend of saved labels is a no-op).
  let pending = null;
  // AI-check level: a cluster's labels against the AI's suggestion. a accepts the
  // suggestion, r keeps the labels, o opens the label buttons ("other").
  const check = document.getElementById("check");
  let choosingOther = false;

  function say(text, kind) {
    message.textContent = text || "";
    message.className = "message " + (kind || "");
  }

  function showImage() {
    boxes.replaceChildren();
    if (!current || !current.images.length) { img.removeAttribute("src"); return; }
    const image = current.images[imageIndex];
    img.src = image.url;
    document.getElementById("image-index").textContent =
      (imageIndex + 1) + " / " + current.images.length;
    document.getElementById("image-meta").textContent =
      image.filename + (image.timestamp ? " · " + image.timestamp.replace("T", " ").slice(0, 19) : "");
    for (const d of image.detections) {
      const box = document.createElement("div");
      box.className = "box";
      box.style.left = (d.left * 100) + "%";
      box.style.top = (d.top * 100) + "%";
      box.style.width = ((d.right - d.left) * 100) + "%";
      box.style.height = ((d.bottom - d.top) * 100) + "%";
      if (d.classification) { box.title = d.classification + " " + (d.score || 0).toFixed(2); }
      boxes.appendChild(box);
    }
  }

  function showPicked() {
    for (const button of document.querySelectorAll("button.label")) {
      button.classList.toggle("picked", picked.has(Number(button.dataset.labelId)));
    }
  }

  function checking() { return current && current.level === "ai_check" && current.check; }

  function showCheck() {
    const on = Boolean(checking());
    check.hidden = !on;
    root.classList.toggle("checking", on && !choosingOther);
    if (!on) return;
    const labelled = current.check.labels.map((l) => l.name).join(" + ") || "nothing";
    const suggested = current.check.suggested ? current.check.suggested.name : "?";
    document.getElementById("check-text").textContent = choosingOther
      ? "Pick the right labels (Esc: back to the AI check)."
      : "Labelled " + labelled + "; the AI says " + suggested + ".";
    document.getElementById("check-accept").disabled = !current.check.suggested;
  }

  function onOffered(msg) {
    current = msg;
    imageIndex = 0;
    picked = new Set();
    choosingOther = false;
    showPicked();
    showImage();
    showCheck();
    progress.textContent = msg.progress.done + " / " + msg.progress.total +
      (msg.level === "ai_check" ? " AI suggestions checked" : " clusters labelled");
    document.getElementById("suggestion").textContent =
      msg.suggestion ? "AI suggests: " + msg.suggestion : "";
    root.dataset.clusterId = String(msg.cluster_id);
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(message)); }
  }

  function submit(labelIds, verdict) {
    if (!current || pending) return;
    if (checking() && !verdict) verdict = "other";
    pending = {
      type: "label.submit", annotation_id: current.annotation_id, lease: current.lease,
      labels: labelIds, note: "",
    };
    if (verdict) pending.verdict = verdict;
    root.dataset.pending = String(current.annotation_id);
    current = null;
    choosingOther = false;
    showCheck();
    send(pending); // when the socket is down, it goes out on reconnect
  }

  // At the AI-check level a, r and o answer; label keys work only after o.
  function checkKey(event) {
    if (!checking()) return false;
    const key = event.key.toLowerCase();
    if (choosingOther) {
      if (event.key === "Escape") { choosingOther = false; showCheck(); return true; }
      return false;
    }
    if (key === "a" && current.check.suggested) { submit([], "accepted"); }
    else if (key === "r") { submit([], "rejected"); }
    else if (key === "o") { choosingOther = true; showCheck(); }
    else { return !event.key.startsWith("Arrow"); }
    event.preventDefault();
    return true;
  }

  function acknowledged(annotationId) {
    if (pending && pending.annotation_id === annotationId) {
      pending = null;
      delete root.dataset.pending;
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/annotate/" + taskId + "/");
    socket.onopen = () => {
      retry = 0;
      connection.textContent = "";
      if (pending) {
        send(pending); // its answer is followed by the next cluster
      } else {
        current = null; // a reconnect hands back the cluster held, under a new lease
        send({ type: "cluster.request" });
      }
      heartbeat = setInterval(() => {
        if (current) {
          send({ type: "heartbeat", annotation_id: current.annotation_id, lease: current.lease });
        }
      }, 30000);
    };
    socket.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "cluster.offered") { onOffered(msg); }
      else if (msg.type === "label.saved") {
        acknowledged(msg.annotation_id);
        say("Saved.", "ok");
        root.dataset.saved = String(Number(root.dataset.saved || 0) + 1);
      }
      else if (msg.type === "label.refused") { acknowledged(msg.annotation_id); say(msg.reason, "error"); }
      else if (msg.type === "task.finished") {
        current = null; showImage(); showCheck();
        progress.textContent = msg.progress.done + " / " + msg.progress.total + " done";
        say("Every cluster of this task is done or being worked on. Thank you!", "ok");
        root.dataset.finished = "1";
      }
      else if (msg.type === "error") { say(msg.message, "error"); }
    };
    socket.onclose = (event) => {
      clearInterval(heartbeat);
      if (event.code === 4403 || event.code === 4401) {
        connection.textContent = "You may not annotate this task.";
        return;
      }
      connection.textContent = "Connection lost; reconnecting…";
      root.dataset.reconnects = String(Number(root.dataset.reconnects || 0) + 1);
      retry = Math.min(retry + 1, 5);
      setTimeout(connect, 1000 * retry);
    };
  }

  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT" || event.target.tagName === "TEXTAREA") return;
    if (checkKey(event)) return;
    if (event.key === "ArrowRight" && current) {
      imageIndex = Math.min(imageIndex + 1, current.images.length - 1); showImage(); return;
    }
    if (event.key === "ArrowLeft" && current) {
      imageIndex = Math.max(imageIndex - 1, 0); showImage(); return;
    }
    if (event.key === "Enter" && picked.size) { submit([...picked]); return; }
    const label = byHotkey.get(event.key.toLowerCase());
    if (!label || !current) return;
    event.preventDefault();
    if (event.ctrlKey && !label.exclusive) {
      picked.has(label.id) ? picked.delete(label.id) : picked.add(label.id);
      showPicked();
      return;
    }
    submit([label.id]);
  });

  document.getElementById("check-accept").addEventListener("click", () => {
    if (checking() && current.check.suggested) submit([], "accepted");
  });
  document.getElementById("check-reject").addEventListener("click", () => {
    if (checking()) submit([], "rejected");
  });
  document.getElementById("check-other").addEventListener("click", () => {
    if (checking()) { choosingOther = true; showCheck(); }
  });
  for (const button of document.querySelectorAll("button.label")) {
    button.addEventListener("click", (event) => {
      if (checking() && !choosingOther) return;
      const id = Number(button.dataset.labelId);
      if (event.ctrlKey) { picked.has(id) ? picked.delete(id) : picked.add(id); showPicked(); return; }
      submit([id]);
    });
  }
  document.getElementById("next-image").addEventListener("click", () => {
    if (current) { imageIndex = Math.min(imageIndex + 1, current.images.length - 1); showImage(); }
  });
  document.getElementById("prev-image").addEventListener("click", () => {
    if (current) { imageIndex = Math.max(imageIndex - 1, 0); showImage(); }
  });
  connect();
})();
