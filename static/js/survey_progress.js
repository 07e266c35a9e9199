// Live import and stage progress on the survey's admin page (messages: surveys/events.py).
(function () {
  "use strict";
  const box = document.getElementById("survey-progress");
  if (!box) return;
  const status = document.getElementById("survey-status");
  const detail = document.getElementById("survey-progress-detail");
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + "/ws/surveys/" + box.dataset.surveyId + "/");
  socket.onmessage = (event) => {
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
  };
})();
