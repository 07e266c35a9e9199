// Drawing a mask polygon on an example image of the camera (classifiers.widgets.PolygonWidget).
// Click to add a corner; the polygon's [x, y] points (0..1, origin top-left) go into the
// hidden field as JSON. No inline script: the Content-Security-Policy allows files only.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";

  function parse(text) {
    try {
      const points = JSON.parse(text || "[]");
      return Array.isArray(points) ? points : [];
    } catch (err) {
      return [];
    }
  }

  function setUp(editor) {
    const input = document.getElementById(editor.dataset.input);
    const img = editor.querySelector("img");
    const svg = editor.querySelector("svg");
    const note = editor.querySelector(".mask-editor-note");
    const camera = document.getElementById("id_camera");
    let points = parse(input.value);

    function showImage() {
      const id = camera ? camera.value : editor.dataset.cameraId;
      if (!id) {
        img.removeAttribute("src");
        note.textContent = "Choose a camera to see one of its images.";
        return;
      }
      note.textContent = "";
      img.src = editor.dataset.imageUrl.replace("/0/", "/" + encodeURIComponent(id) + "/");
    }

    function draw() {
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      const shape = document.createElementNS(SVG, points.length > 2 ? "polygon" : "polyline");
      shape.setAttribute("points", points.map((p) => p[0] + "," + p[1]).join(" "));
      shape.setAttribute("class", "mask-editor-shape");
      svg.appendChild(shape);
      points.forEach((p) => {
        const dot = document.createElementNS(SVG, "circle");
        dot.setAttribute("cx", p[0]);
        dot.setAttribute("cy", p[1]);
        dot.setAttribute("r", 0.006);
        dot.setAttribute("class", "mask-editor-dot");
        svg.appendChild(dot);
      });
      input.value = JSON.stringify(points);
    }

    svg.addEventListener("click", (event) => {
      const rect = svg.getBoundingClientRect();
      const clamp = (v) => Math.min(1, Math.max(0, Math.round(v * 10000) / 10000));
      points.push([clamp((event.clientX - rect.left) / rect.width),
                   clamp((event.clientY - rect.top) / rect.height)]);
      draw();
    });
    editor.querySelector("[data-action=undo]").addEventListener("click", () => {
      points.pop();
      draw();
    });
    editor.querySelector("[data-action=clear]").addEventListener("click", () => {
      points = [];
      draw();
    });
    img.addEventListener("error", () => {
      note.textContent = "This camera has no image to show.";
    });
    if (camera) camera.addEventListener("change", showImage);
    showImage();
    draw();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".mask-editor").forEach(setUp);
  });
})();
