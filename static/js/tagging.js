// The tagging page: holds a queue of clusters offered over a websocket and sends labels on
// hotkeys. Message types are documented in annotation/events.py. Text from the server is
// only ever set with textContent (never innerHTML): labels are user input.
//
// The key rule: a key applies to the cluster on the screen when it was pressed, and to no
// other. The server keeps a few clusters leased ahead (the prefetch window); the page
// preloads their images and shows a cluster only once its first image is decoded. A label
// key sends the shown cluster's label and, in the same key handler, puts the next decoded
// cluster on the screen; when none is ready the screen is emptied and keys are refused
// visibly ("next cluster is loading") until one is.
(function () {
  "use strict";
  const root = document.getElementById("tagging");
  const taskId = root.dataset.taskId;
  const labels = JSON.parse(document.getElementById("labels-data").textContent);
  const byHotkey = new Map(labels.filter((l) => l.hotkey).map((l) => [l.hotkey.toLowerCase(), l]));
  const blank = document.getElementById("image"); // shown while no cluster is ready
  const boxes = document.getElementById("boxes");
  const progress = document.getElementById("progress");
  const message = document.getElementById("message");
  const connection = document.getElementById("connection");
  const check = document.getElementById("check");
  const PRELOAD_IMAGES = 4; // per queued cluster; the rest load once it is shown
  const VERDICT_KEYS = ["a", "r", "o"];
  let socket = null;
  let heartbeat = null;
  let retry = 0;
  let shown = null; // {msg: cluster.offered, pictures: [Image], ready} on the screen
  let queue = []; // offered clusters not shown yet, in the order offered
  // Labels sent but not acknowledged, in order. After a reconnect they are sent again
  // (the server saves each once: a resend of saved labels is a no-op).
  let outbox = [];
  let finished = false;
  let lastLevel = "";
  let imageIndex = 0;
  let picked = new Set();
  // AI-check level: a cluster's labels against the AI's suggestion. a accepts the
  // suggestion, r keeps the labels, o opens the label buttons ("other").
  let choosingOther = false;
  // What each key press did, against which cluster: {key, cluster_id, annotation_id,
  // outcome: "sent" | "refused"}. The person's keys can be audited (tests read it).
  const keyLog = [];
  window.taggingKeys = keyLog;

  function say(text, kind) {
    message.textContent = text || "";
    message.className = "message " + (kind || "");
  }

  function picture(entry, i) {
    if (!entry.pictures[i]) {
      const el = new Image();
      el.alt = "camera-trap image";
      el.src = entry.msg.images[i].url;
      entry.pictures[i] = el;
    }
    return entry.pictures[i];
  }

  function preload(entry) {
    const count = entry.msg.images.length;
    if (!count) { ready(entry); return; }
    const first = picture(entry, 0);
    for (let i = 1; i < Math.min(count, PRELOAD_IMAGES); i++) picture(entry, i);
    // A broken image still counts as ready (its alt text shows): it must not stall the queue.
    first.decode().catch(() => {}).then(() => ready(entry));
  }

  function ready(entry) {
    entry.ready = true;
    if (!shown && queue.includes(entry)) showNext();
  }

  // Puts the first ready cluster of the queue on the screen, or empties the screen.
  function showNext() {
    const i = queue.findIndex((entry) => entry.ready);
    shown = i < 0 ? null : queue.splice(i, 1)[0];
    imageIndex = 0;
    picked = new Set();
    choosingOther = false;
    showImage();
    showPicked();
    showCheck();
    document.getElementById("suggestion").textContent =
      shown && shown.msg.suggestion ? "AI suggests: " + shown.msg.suggestion : "";
    if (shown) {
      shown.shownAt = performance.now();
      root.dataset.clusterId = String(shown.msg.cluster_id);
      for (let n = 0; n < shown.msg.images.length; n++) picture(shown, n);
    } else {
      delete root.dataset.clusterId;
      if (finished) sayFinished();
    }
  }

  function showImage() {
    boxes.replaceChildren();
    const image = shown && shown.msg.images.length ? shown.msg.images[imageIndex] : null;
    const el = image ? picture(shown, imageIndex) : blank;
    const old = document.getElementById("image");
    if (el !== old) {
      old.removeAttribute("id");
      el.id = "image";
      old.replaceWith(el); // a decoded picture: on the screen in this same frame
    }
    document.getElementById("image-index").textContent =
      image ? (imageIndex + 1) + " / " + shown.msg.images.length : "";
    document.getElementById("image-meta").textContent = !image ? "" :
      // local_time: the camera's local time, naming the survey's time zone.
      image.filename + (image.local_time ? " · " + image.local_time : "");
    if (!image) return;
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

  function moveImage(step) {
    if (!shown || !shown.msg.images.length) return;
    imageIndex = Math.min(Math.max(imageIndex + step, 0), shown.msg.images.length - 1);
    showImage();
  }

  function showPicked() {
    for (const button of document.querySelectorAll("button.label")) {
      button.classList.toggle("picked", picked.has(Number(button.dataset.labelId)));
    }
  }

  function checking() { return shown && shown.msg.level === "ai_check" && shown.msg.check; }

  function showCheck() {
    const on = Boolean(checking());
    check.hidden = !on;
    root.classList.toggle("checking", on && !choosingOther);
    if (!on) return;
    const c = shown.msg.check;
    const labelled = c.labels.map((l) => l.name).join(" + ") || "nothing";
    const suggested = c.suggested ? c.suggested.name : "?";
    document.getElementById("check-text").textContent = choosingOther
      ? "Pick the right labels (Esc: back to the AI check)."
      : "Labelled " + labelled + "; the AI says " + suggested + ".";
    document.getElementById("check-accept").disabled = !c.suggested;
  }

  function showProgress(p, level) {
    progress.textContent = p.done + " / " + p.total +
      (level === "ai_check" ? " AI suggestions checked" : " clusters labelled");
  }

  function sayFinished() {
    say("Every cluster of this task is done or being worked on. Thank you!", "ok");
    root.dataset.finished = "1";
  }

  function record(key, outcome) {
    keyLog.push({
      key: key, outcome: outcome,
      cluster_id: shown ? shown.msg.cluster_id : null,
      annotation_id: shown ? shown.msg.annotation_id : null,
    });
    if (keyLog.length > 1000) keyLog.shift();
  }

  // A key that would label while no cluster is on the screen: not applied, and said so.
  function refuse(key) {
    record(key, "refused");
    root.dataset.refused = String(Number(root.dataset.refused || 0) + 1);
    say(finished
      ? "Nothing left to label; “" + key + "” was not applied."
      : "Next cluster is loading… “" + key + "” was not applied; press it again once the picture shows.",
    "error");
  }

  function send(msg) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(msg)); }
  }

  function showPending() {
    if (outbox.length) root.dataset.pending = String(outbox.length);
    else delete root.dataset.pending;
  }

  // Labels the cluster on the screen and shows the next one, all before this key's handler returns.
  function submit(labelIds, verdict, key) {
    if (!shown) { refuse(key); return; }
    if (checking() && !verdict) verdict = "other";
    const out = {
      type: "label.submit", annotation_id: shown.msg.annotation_id, lease: shown.msg.lease,
      labels: labelIds, note: "",
    };
    if (verdict) out.verdict = verdict;
    // Time on the screen, not since the offer: a queued cluster waited unseen.
    else out.seconds = Math.round(performance.now() - shown.shownAt) / 1000;
    record(key, "sent");
    outbox.push(out);
    showPending();
    if (message.classList.contains("error")) say("");
    send(out); // when the socket is down, it goes out on reconnect
    showNext();
  }

  // At the AI-check level a, r and o answer; label keys work only after o.
  function checkKey(event) {
    const key = event.key.toLowerCase();
    if (!shown && lastLevel === "ai_check" && VERDICT_KEYS.includes(key)) {
      event.preventDefault();
      if (!event.repeat) refuse(key);
      return true;
    }
    if (!checking()) return false;
    if (choosingOther) {
      if (event.key === "Escape") { choosingOther = false; showCheck(); return true; }
      return false;
    }
    if (VERDICT_KEYS.includes(key)) {
      event.preventDefault();
      if (event.repeat) return true;
      if (key === "a" && shown.msg.check.suggested) { submit([], "accepted", key); }
      else if (key === "r") { submit([], "rejected", key); }
      else if (key === "o") { choosingOther = true; showCheck(); }
      return true;
    }
    if (byHotkey.has(key)) say("Answer with a, r or o first (o: other labels).", "error");
    return true;
  }

  function acknowledged(annotationId) {
    outbox = outbox.filter((m) => m.annotation_id !== annotationId);
    showPending();
  }

  function onOffered(msg) {
    lastLevel = msg.level;
    finished = false;
    delete root.dataset.finished;
    showProgress(msg.progress, msg.level);
    const same = (entry) => entry.msg.annotation_id === msg.annotation_id;
    const known = (shown && same(shown)) ? shown : queue.find(same);
    if (known) { known.msg.lease = msg.lease; return; } // the same cluster under a new lease
    const entry = { msg: msg, pictures: [], ready: false };
    queue.push(entry);
    preload(entry);
  }

  function onWithdrawn(msg) {
    queue = queue.filter((entry) => entry.msg.annotation_id !== msg.annotation_id);
    if (shown && shown.msg.annotation_id === msg.annotation_id) {
      showNext();
      say(msg.reason, "error");
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/annotate/" + taskId + "/");
    socket.onopen = () => {
      retry = 0;
      connection.textContent = "";
      // Every lease this page holds, so that a reconnect keeps them: labels not yet
      // acknowledged first, then the cluster on the screen and the queue.
      const held = outbox.map((m) => ({ annotation_id: m.annotation_id, lease: m.lease }));
      for (const entry of (shown ? [shown] : []).concat(queue)) {
        held.push({ annotation_id: entry.msg.annotation_id, lease: entry.msg.lease });
      }
      send({ type: "cluster.request", prefetch: true, keep: held.slice(0, 20) });
      for (const m of outbox) send(m);
      heartbeat = setInterval(() => {
        const any = shown || queue[0];
        if (any) send({ type: "heartbeat", annotation_id: any.msg.annotation_id, lease: any.msg.lease });
      }, 30000);
    };
    socket.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "cluster.offered") { onOffered(msg); }
      else if (msg.type === "cluster.withdrawn") { onWithdrawn(msg); }
      else if (msg.type === "label.saved") {
        acknowledged(msg.annotation_id);
        if (!message.classList.contains("error")) say("Saved.", "ok");
        root.dataset.saved = String(Number(root.dataset.saved || 0) + 1);
      }
      else if (msg.type === "label.refused") { acknowledged(msg.annotation_id); say(msg.reason, "error"); }
      else if (msg.type === "task.progress") { showProgress(msg.progress, lastLevel); }
      else if (msg.type === "task.finished") {
        finished = true;
        progress.textContent = msg.progress.done + " / " + msg.progress.total + " done";
        if (!shown && !queue.length) sayFinished();
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
    if (event.key === "ArrowRight") { moveImage(1); return; }
    if (event.key === "ArrowLeft") { moveImage(-1); return; }
    if (checkKey(event)) return;
    if (event.key === "Enter") {
      if (picked.size && !event.repeat) submit([...picked], null, "Enter");
      return;
    }
    const label = byHotkey.get(event.key.toLowerCase());
    if (!label) return;
    event.preventDefault();
    if (event.repeat) return; // a held key must not label one cluster after another
    if (!shown) { refuse(event.key.toLowerCase()); return; }
    if (event.ctrlKey && !label.exclusive) {
      picked.has(label.id) ? picked.delete(label.id) : picked.add(label.id);
      showPicked();
      return;
    }
    submit([label.id], null, event.key.toLowerCase());
  });

  document.getElementById("check-accept").addEventListener("click", () => {
    if (checking() && shown.msg.check.suggested) submit([], "accepted", "click");
  });
  document.getElementById("check-reject").addEventListener("click", () => {
    if (checking()) submit([], "rejected", "click");
  });
  document.getElementById("check-other").addEventListener("click", () => {
    if (checking()) { choosingOther = true; showCheck(); }
  });
  for (const button of document.querySelectorAll("button.label")) {
    button.addEventListener("click", (event) => {
      if (checking() && !choosingOther) return;
      const id = Number(button.dataset.labelId);
      if (event.ctrlKey && shown) { picked.has(id) ? picked.delete(id) : picked.add(id); showPicked(); return; }
      submit([id], null, "click");
    });
  }
  document.getElementById("next-image").addEventListener("click", () => moveImage(1));
  document.getElementById("prev-image").addEventListener("click", () => moveImage(-1));
  connect();
})();
