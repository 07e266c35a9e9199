// Live import and stage progress on the survey's admin page (messages: surveys/events.py).
(function () {
  "use strict";
  const box = document.getElementById("survey-progress");
  if (!box) return;
  const status = document.getElementById("survey-status");
  const detail = document.getElementById("survey-progress-detail");
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  let retry = 0;

  function connect() {
    const socket = new WebSocket(scheme + location.host + "/ws/surveys/" + box.dataset.surveyId + "/");
    socket.onopen = () => { retry = 0; };
    socket.onmessage = onMessage;
    // Reconnect after any drop; the server sends the current status on connect.
    socket.onclose = (event) => {
      if (event.code === 4401 || event.code === 4403) return;
      retry = Math.min(retry + 1, 10);
      setTimeout(connect, 1000 * retry);
    };
  }

  function onMessage(event) {
    const msg = JSON.parse(event.data);
    if (msg.type === "survey.status") {
      status.textContent = msg.label || msg.status;
      detail.textContent = msg.detail || "";
    } else if (msg.type === "import.progress") {
      detail.textContent = "imported " + msg.imported + ", read " + msg.processed + " of " +
        msg.total + " files, " + msg.issues + " issue(s)";
    } else if (msg.type === "stage.progress") {
      detail.textContent = msg.stage + ": " + msg.done + " of " + msg.total;
    }
  }

  connect();
})();
