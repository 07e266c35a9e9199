// A short tutorial beside the tagging page on a person's first visit (remembered in this
// browser); the "?" button shows it again. It never takes keys: labelling works while it
// is open. Label names are set as text, never as HTML.
(function () {
  "use strict";
  const SEEN = "traptagger.tutorial.seen";
  const panel = document.getElementById("tutorial");
  if (!panel) return;
  const keys = document.getElementById("tutorial-keys");
  let labels = [];
  try { labels = JSON.parse(document.getElementById("labels-data").textContent) || []; }
  catch (error) { labels = []; }
  for (const label of labels) {
    if (!label.hotkey || label.parent) continue;
    const item = document.createElement("li");
    const kbd = document.createElement("kbd");
    kbd.textContent = label.hotkey;
    item.append(kbd, " " + label.name);
    keys.append(item);
  }
  function seen() {
    try { return window.localStorage.getItem(SEEN) === "1"; } catch (error) { return false; }
  }
  function show(open) {
    panel.hidden = !open;
    document.getElementById("tutorial-open").setAttribute("aria-expanded", String(open));
  }
  document.getElementById("tutorial-close").addEventListener("click", (event) => {
    try { window.localStorage.setItem(SEEN, "1"); } catch (error) { /* private mode */ }
    show(false);
    event.currentTarget.blur();
  });
  document.getElementById("tutorial-open").addEventListener("click", (event) => {
    show(panel.hidden);
    event.currentTarget.blur();  // a label key typed next must not "click" this button
  });
  show(!seen());
}());
