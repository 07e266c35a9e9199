// Draws every insights chart: each section's Vega-Lite spec (a json_script element) with
// the vendored vega-embed. Vega's expressions run through vega-interpreter (ast: true),
// never through eval or new Function, which the Content-Security-Policy forbids.
// vega-embed adds tooltips, zoom on the time axes (declared in the specs) and an
// SVG/PNG menu; the download links under each chart are the server's own rendering.
(function () {
  "use strict";

  const OPTIONS = {
    ast: true,
    renderer: "svg",
    actions: {export: true, source: false, compiled: false, editor: false},
  };

  function draw(holder) {
    const spec = JSON.parse(document.getElementById(holder.dataset.spec).textContent);
    return vegaEmbed(holder, spec, {...OPTIONS, expr: vegaInterpreter.expressionInterpreter})
      .then(() => { holder.dataset.drawn = "yes"; })
      .catch((error) => {
        holder.classList.add("failed");
        holder.textContent = "This chart could not be drawn: " + error.message +
          ". Its data and images are in the downloads below.";
        console.error(error);
      });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const holders = [...document.querySelectorAll(".insight-chart[data-spec]")];
    Promise.all(holders.map(draw)).then(() => { document.body.dataset.chartsDrawn = "yes"; });
  });
})();
