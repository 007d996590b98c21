// The image detail page's Edit form: "Paint the area to change". A canvas over a copy of the picture; brush, eraser,
// size and clear, with pointer events (mouse, pen and touch alike). On submit, while the panel is open and something
// is painted, the painting goes as a PNG (opaque = change) in the form's `mask` file field, so the same multipart
// POST carries it (images/upload_views.image_edit; the server checks and normalises it: images/masks.py). Nothing
// painted: an ordinary edit. No inline script or style (CSP): loaded by templates/images/detail.html.
(function () {
  "use strict";

  var MAX_SIDE = 2048;  // the server scales the mask to the picture's size, so a big picture need not mean a big canvas
  var INK = "rgb(220, 20, 90)";

  function setUp() {
    var form = document.getElementById("edit-form");
    var panel = document.getElementById("mask-painter");
    var canvas = document.getElementById("mask-canvas");
    var fileInput = document.getElementById("mask-file");
    if (!form || !panel || !canvas || !fileInput || !canvas.getContext) return;
    var size = document.getElementById("mask-size");
    var tools = Array.prototype.slice.call(panel.querySelectorAll("[data-mask-tool]"));
    var tool = "brush";
    var painting = null;  // the pointer id and the last point while a stroke is drawn

    var scale = Math.min(1, MAX_SIDE / Math.max(canvas.width, canvas.height));
    if (scale < 1) {
      canvas.width = Math.max(1, Math.round(canvas.width * scale));
      canvas.height = Math.max(1, Math.round(canvas.height * scale));
    }
    var ctx = canvas.getContext("2d");

    function point(event) {
      var box = canvas.getBoundingClientRect();
      var k = canvas.width / box.width;  // screen pixels → canvas pixels
      return { x: (event.clientX - box.left) * k, y: (event.clientY - box.top) * (canvas.height / box.height), k: k };
    }

    function stroke(from, to) {
      ctx.save();
      ctx.globalCompositeOperation = tool === "eraser" ? "destination-out" : "source-over";
      ctx.strokeStyle = ctx.fillStyle = INK;
      ctx.lineWidth = Number(size.value) * to.k;  // the slider is in screen pixels, whatever the picture's size
      ctx.lineCap = ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(from.x, from.y);
      ctx.lineTo(to.x + (from === to ? 0.01 : 0), to.y);  // a tap still paints a dot
      ctx.stroke();
      ctx.restore();
    }

    canvas.addEventListener("pointerdown", function (event) {
      if (event.button !== 0 || painting) return;
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      var p = point(event);
      painting = { id: event.pointerId, last: p };
      stroke(p, p);
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!painting || event.pointerId !== painting.id) return;
      event.preventDefault();
      var p = point(event);
      stroke(painting.last, p);
      painting.last = p;
    });
    function end(event) {
      if (painting && event.pointerId === painting.id) painting = null;
    }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);

    tools.forEach(function (button) {
      button.addEventListener("click", function () {
        tool = button.dataset.maskTool;
        tools.forEach(function (b) {
          var on = b === button;
          b.classList.toggle("active", on);
          b.setAttribute("aria-pressed", on ? "true" : "false");
        });
      });
    });
    document.getElementById("mask-clear").addEventListener("click", function () {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
    });

    function painted() {
      var alpha = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (var i = 3; i < alpha.length; i += 4) if (alpha[i]) return true;
      return false;
    }

    form.addEventListener("submit", function (event) {
      fileInput.value = "";  // a mask from an earlier, interrupted submit never rides along
      if (!panel.open || !painted() || typeof DataTransfer === "undefined") return;  // an ordinary edit
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      canvas.toBlob(function (blob) {
        var files = new DataTransfer();
        files.items.add(new File([blob], "mask.png", { type: "image/png" }));
        fileInput.files = files.files;
        form.submit();  // submit() fires no submit event: this handler does not run again
      }, "image/png");
    });
  }

  document.addEventListener("DOMContentLoaded", setUp);
  window.addEventListener("pageshow", function () {  // back from the chat (bfcache): the Edit button works again
    var button = document.querySelector("#edit-form button[type=submit]");
    if (button) button.disabled = false;
  });
})();
