// Streams a chat model's reply into its bubble as the words arrive (server-sent events from
// chats/messages/<id>/stream/). The server sends: delta {text}, card {html} when the model starts an image,
// problem {text}, and done {html}: the saved message rendered by the server (sanitised markdown), which replaces
// the plain-text bubble.
(function () {
  "use strict";

  function insertHtml(anchor, html, position) {
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var nodes = Array.prototype.slice.call(holder.children);
    nodes.forEach(function (node) {
      anchor.insertAdjacentElement(position, node);
      anchor = node;
      position = "afterend";
      if (window.htmx) window.htmx.process(node);
    });
    return nodes;
  }

  function scrollIfNearBottom() {
    var box = document.getElementById("messages");
    if (box && box.scrollHeight - box.scrollTop - box.clientHeight < 400) box.scrollTop = box.scrollHeight;
  }

  function start(bubble) {
    if (bubble.dataset.streamStarted) return;
    bubble.dataset.streamStarted = "1";
    var message = bubble.closest(".message");
    var text = bubble.querySelector(".stream-text");
    var lastCard = message;
    var finished = false;
    var source = new EventSource(bubble.dataset.streamUrl);

    source.addEventListener("delta", function (event) {
      text.textContent += JSON.parse(event.data).text;
      scrollIfNearBottom();
    });
    source.addEventListener("card", function (event) {
      var nodes = insertHtml(lastCard, JSON.parse(event.data).html, "afterend");
      if (nodes.length) lastCard = nodes[nodes.length - 1];
      scrollIfNearBottom();
    });
    source.addEventListener("problem", function (event) {
      bubble.dataset.problem = JSON.parse(event.data).text;
    });
    source.addEventListener("done", function (event) {
      finished = true;
      source.close();
      insertHtml(message, JSON.parse(event.data).html, "beforebegin");
      message.remove();
      scrollIfNearBottom();
    });
    source.onerror = function () {
      if (finished) return;
      // The browser retries on its own; the server replays a saved reply instead of asking the model again.
      if (source.readyState === EventSource.CLOSED) {
        bubble.removeAttribute("aria-busy");
        text.textContent += " (the connection was lost; reload the page to see the saved reply)";
      }
    };
  }

  function scan(root) {
    (root.querySelectorAll ? root : document).querySelectorAll(".streaming[data-stream-url]").forEach(start);
    if (root.matches && root.matches(".streaming[data-stream-url]")) start(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    scan(document);
    document.body.addEventListener("htmx:load", function (event) { scan(event.target); });
  });
})();
