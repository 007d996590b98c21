// Seed 000's image modal: POST /api/generate-image, then show the refined prompt (blue info box) and the images
// with Download, Save to gallery and Clear. Nothing is added to the conversation, and the image joins the gallery only
// when Save to gallery is pressed (POST the answer's save_url); unsaved ones are deleted by the server after a day.
(function () {
  "use strict";

  function dataUrlToBlobUrl(dataUrl) {
    // Browsers refuse to open data: URLs in a new tab; a blob: URL of the same bytes opens fine.
    var parts = dataUrl.split(","), mime = parts[0].split(":")[1].split(";")[0];
    var bytes = atob(parts[1]), buffer = new Uint8Array(bytes.length);
    for (var i = 0; i < bytes.length; i++) buffer[i] = bytes.charCodeAt(i);
    return URL.createObjectURL(new Blob([buffer], { type: mime }));
  }

  function timestamp() {
    return new Date().toISOString().replace(/[:T]/g, "-").slice(0, 19);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("image-gen-form");
    if (!form) return;
    var preview = document.getElementById("image-gen-preview");
    var errorBox = document.getElementById("image-gen-error");
    var download = document.getElementById("image-gen-download");
    var clear = document.getElementById("image-gen-clear");
    var save = document.getElementById("image-gen-save");
    var savedBox = document.getElementById("image-gen-saved");
    var unsavedNote = document.getElementById("image-gen-unsaved-note");
    var saveUrl = "";
    var submit = document.getElementById("image-gen-submit");
    var spinner = submit.querySelector(".spinner-border");
    var token = document.querySelector('meta[name="csrf-token"]');
    var blobUrls = [];

    function reset() {
      blobUrls.forEach(URL.revokeObjectURL);
      blobUrls = [];
      preview.replaceChildren();
      savedBox.replaceChildren();
      saveUrl = "";
      [download, clear, save, unsavedNote].forEach(function (el) { el.classList.add("d-none"); });
    }

    function showSaved() {
      save.classList.add("d-none");
      unsavedNote.classList.add("d-none");
      var link = document.createElement("a");
      link.href = form.dataset.gallery;
      link.textContent = "Open the gallery";
      savedBox.className = "small me-auto text-success image-gen-saved";
      savedBox.replaceChildren(document.createTextNode("Saved to your gallery. "), link);
    }

    save.addEventListener("click", function () {
      if (!saveUrl) return;
      errorBox.textContent = "";
      save.disabled = true;
      fetch(saveUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": token ? token.content : "" },
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (answer) {
          if (!response.ok) throw new Error(answer.detail || "Could not save (HTTP " + response.status + ").");
          showSaved();
        });
      }).catch(function (error) {
        errorBox.textContent = error.message || "Could not reach the server.";
      }).finally(function () {
        save.disabled = false;
      });
    });

    function render(answer) {
      reset();
      if (answer.refined_prompt) {
        var info = document.createElement("div");
        info.className = "alert alert-info small refined-prompt";
        var label = document.createElement("strong");
        label.textContent = "Refined prompt: ";
        info.append(label, document.createTextNode(answer.refined_prompt));
        preview.append(info);
      }
      if (answer.warning) {
        var warn = document.createElement("div");
        warn.className = "alert alert-warning small";
        warn.textContent = answer.warning;
        preview.append(warn);
      }
      (answer.images || []).forEach(function (dataUrl, i) {
        var url = dataUrlToBlobUrl(dataUrl);
        blobUrls.push(url);
        var img = document.createElement("img");
        img.src = url;
        img.alt = "Generated image " + (i + 1);
        img.className = "img-fluid rounded border mb-2 modal-image";
        img.title = "Open in a new tab";
        img.addEventListener("click", function () { window.open(url, "_blank", "noopener"); });
        preview.append(img);
      });
      var meta = document.createElement("div");
      meta.className = "small text-body-secondary";
      meta.textContent = answer.model ? "Model: " + answer.model : "";
      preview.append(meta);
      if (blobUrls.length) {
        var ext = ((answer.images[0].split(";")[0].split("/")[1]) || "png").replace("jpeg", "jpg");
        download.href = blobUrls[0];
        download.download = "image-" + timestamp() + "." + ext;
        download.classList.remove("d-none");
        clear.classList.remove("d-none");
        if (answer.save_url && !answer.saved) {
          saveUrl = answer.save_url;
          save.classList.remove("d-none");
          unsavedNote.classList.remove("d-none");
        }
      }
    }

    clear.addEventListener("click", reset);

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      errorBox.textContent = "";
      var data = new FormData(form);
      var body = {
        prompt: (data.get("prompt") || "").trim(),
        better_context: form.elements.better_context.checked,
        include_summary: !!(form.elements.include_summary && form.elements.include_summary.checked &&
                            !form.elements.include_summary.disabled),
        include_messages: !!(form.elements.include_messages && form.elements.include_messages.checked &&
                             !form.elements.include_messages.disabled),
        include_memory_pad: !!(form.elements.include_memory_pad && form.elements.include_memory_pad.checked &&
                               !form.elements.include_memory_pad.disabled),
        history_count: parseInt(data.get("history_count") || "10", 10),
        n: parseInt(data.get("n") || "1", 10),
      };
      if (data.get("conversation_id")) body.conversation_id = parseInt(data.get("conversation_id"), 10);
      if (data.get("profile")) body.profile = parseInt(data.get("profile"), 10);
      if (data.get("style")) body.style = data.get("style");
      if (data.get("aspect_ratio")) body.aspect_ratio = data.get("aspect_ratio");
      if (data.get("image_type")) body.image_type = data.get("image_type");
      submit.disabled = true;
      spinner.classList.remove("d-none");
      fetch(form.dataset.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.content : "" },
        body: JSON.stringify(body),
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (answer) {
          if (!response.ok) throw new Error(answer.detail || "The image could not be made (HTTP " + response.status + ").");
          render(answer);
        });
      }).catch(function (error) {
        errorBox.textContent = error.message || "Could not reach the server.";
      }).finally(function () {
        submit.disabled = false;
        spinner.classList.add("d-none");
      });
    });
  });
})();
