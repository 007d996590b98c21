// imagegen page behaviour. No inline scripts, so a strict Content-Security-Policy can apply.
(function () {
  "use strict";

  // An out-of-band part whose target is not on the page yet (the sidebar's chat list loads after the page, so a
  // first message sent at once can come back before it) would make htmx log an error and be lost. Such parts are
  // taken out before the swap; an innerHTML one (the sidebar's new chat title) is applied when its target appears.
  // Our out-of-band parts are single elements without nested elements of the same tag, which the pattern needs.
  var OOB_PART = /<(\w+)\b([^>]*\bhx-swap-oob="([^"]*)"[^>]*)>([\s\S]*?)<\/\1>/g;
  var waitingParts = {};
  document.addEventListener("htmx:beforeSwap", function (event) {
    var html = event.detail.serverResponse;
    if (typeof html !== "string" || html.indexOf("hx-swap-oob") === -1) return;
    event.detail.serverResponse = html.replace(OOB_PART, function (part, tag, attrs, how, inner) {
      var id = /\bid="([^"]+)"/.exec(attrs);
      if (!id || document.getElementById(id[1])) return part;
      if (how === "innerHTML") waitingParts[id[1]] = inner;
      return "";
    });
  });
  document.addEventListener("htmx:afterSettle", function () {
    Object.keys(waitingParts).forEach(function (id) {
      var target = document.getElementById(id);
      if (!target) return;
      target.innerHTML = waitingParts[id];
      delete waitingParts[id];
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    var token = document.querySelector('meta[name="csrf-token"]');
    document.body.addEventListener("htmx:configRequest", function (event) {
      if (token) event.detail.headers["X-CSRFToken"] = token.content;
    });

    // Delegated, in the capture phase: forms swapped in later (the chat list's live search) ask too, and a
    // refusal stops the submit before htmx or any other handler sees it.
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.matches || !form.matches("form.confirm-submit")) return;
      if (!window.confirm(form.dataset.confirm || "Are you sure?")) {
        event.preventDefault();
        event.stopPropagation();
      }
    }, true);

    // Chat list: "Rename" swaps the chat's link for a small form (templates/chats/_chat_list_items.html).
    document.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("[data-rename-chat]");
      if (!button) return;
      var item = button.closest(".chat-item");
      var form = item.querySelector(".chat-rename-form");
      item.querySelector(".chat-link").hidden = true;
      item.querySelector(".chat-item-actions").hidden = true;
      form.hidden = false;
      var field = form.querySelector("input[name=title]");
      field.focus();
      field.select();
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || !event.target.closest) return;
      var form = event.target.closest(".chat-rename-form");
      if (!form) return;
      var item = form.closest(".chat-item");
      form.hidden = true;
      item.querySelector(".chat-link").hidden = false;
      item.querySelector(".chat-item-actions").hidden = false;
      item.querySelector(".chat-item-menu").focus();
    });

    // Read out what changed on an image card (queued → done or failed), once per change, not every poll.
    var announcer = document.getElementById("announcer");
    var STATUS_WORDS = { running: "Generating the image…", succeeded: "Image ready.", failed: "The image failed.",
                         canceled: "Canceled." };
    var cardStatus = {};
    function scanCards(announce) {
      document.querySelectorAll(".gen-card[data-status]").forEach(function (card) {
        var status = card.dataset.status;
        if (announce && announcer && card.id in cardStatus && cardStatus[card.id] !== status && STATUS_WORDS[status]) {
          var failure = card.querySelector(".gen-error");
          announcer.textContent = STATUS_WORDS[status] + (failure ? " " + failure.textContent.trim() : "");
        }
        cardStatus[card.id] = status;
      });
    }
    scanCards(false);
    document.body.addEventListener("htmx:afterSettle", function () { scanCards(true); });

    var composer = document.getElementById("composer");
    if (!composer) return;
    var input = document.getElementById("message-input");
    var messages = document.getElementById("messages");
    var errorBox = document.getElementById("composer-error");
    var lastSent = input.dataset.lastPrompt || ""; // ↑ recalls it even after a reload

    function grow() {
      input.style.height = "auto";
      if (!input.value) return; // one row again: an empty box's scrollHeight counts its wrapped placeholder
      input.style.height = Math.min(input.scrollHeight, window.innerHeight * 0.4) + "px";
    }
    function scrollDown() { messages.scrollTop = messages.scrollHeight; }
    scrollDown();

    input.addEventListener("input", grow);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (input.value.trim()) composer.requestSubmit();
      } else if (event.key === "ArrowUp" && !input.value && lastSent) {
        event.preventDefault();
        input.value = lastSent;
        grow();
      }
    });

    // An image card's Edit action (templates/images/_generation_card.html) starts an /edit of that very image
    // (--image, chats/commands.py) and leaves the caret where the instruction goes.
    messages.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("[data-edit-image]");
      if (!button) return;
      input.value = "/edit --image " + button.dataset.editImage + " ";
      grow();
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    });

    composer.addEventListener("htmx:beforeRequest", function () {
      lastSent = input.value;
      errorBox.textContent = "";
    });
    composer.addEventListener("htmx:afterRequest", function (event) {
      if (event.detail.successful) {
        input.value = "";
        grow();
        var empty = messages.querySelector(".empty-chat");
        if (empty) empty.remove();
        scrollDown();
      } else {
        // The text stays in the box; say why it was not sent.
        var xhr = event.detail.xhr;
        errorBox.textContent = (xhr && (xhr.status === 422 || xhr.status === 429) && xhr.responseText.trim()) ||
          "Could not send the message. Check your connection and try again.";
      }
    });
    // Keep the newest card in view as images arrive.
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.target.classList && event.target.classList.contains("gen-card")) {
        var nearBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 400;
        if (nearBottom) scrollDown();
      }
    });
  });
})();
